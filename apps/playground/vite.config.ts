import { defineConfig } from 'vite';

// The workspace packages are read from their TypeScript sources ("source" export condition).
// Node-only code in them sits behind dynamic imports that never run in a browser (worker
// threads, os, Dawn's `webgpu` package, resvg); those stay external so nothing Node-only is
// bundled and the imports fail (and are caught) only if ever reached.
const external = [/^node:/, 'webgpu', '@resvg/resvg-js'];

export default defineConfig({
  resolve: { conditions: ['source', 'browser', 'module', 'import', 'default'] },
  build: { target: 'es2022', rollupOptions: { external } },
  optimizeDeps: { exclude: ['webgpu', '@resvg/resvg-js'] },
  esbuild: { target: 'es2022' },
});
