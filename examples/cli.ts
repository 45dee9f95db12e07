/** @karakoram/cli: `karakoram params --preset kimi-k2` (the built bin, as a user runs it; `pnpm build` first). */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('./node_modules/@karakoram/cli/dist/bin.js', import.meta.url));
const out = execFileSync(process.execPath, [bin, 'params', '--preset', 'kimi-k2'], { encoding: 'utf8' });
console.log(`$ karakoram params --preset kimi-k2\n${out.trim()}`);
