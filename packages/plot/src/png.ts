/**
 * SVG to PNG through resvg (a Rust renderer shipped as a prebuilt npm binary). It is loaded
 * lazily so browsers and machines without it still get the SVG; the error says what is missing.
 */
export async function svgToPng(svg: string, width?: number): Promise<Uint8Array> {
  let mod: typeof import('@resvg/resvg-js');
  try {
    mod = await import('@resvg/resvg-js');
  } catch (e) {
    throw new Error(`PNG output needs @resvg/resvg-js, which could not be loaded: ${(e as Error).message}`);
  }
  const r = new mod.Resvg(svg, {
    fitTo: width ? { mode: 'width', value: width } : { mode: 'original' },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
    background: 'white',
  });
  return r.render().asPng();
}
