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

/**
 * Writes OUTBASE.svg and, where resvg loads, OUTBASE.png; a missing PNG renderer is reported on
 * stderr and the SVG path is still returned, so a run never fails for want of a picture.
 */
export async function writeSvgAndPng(svg: string, outBase: string): Promise<{ svg: string; png?: string }> {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(`${outBase}.svg`, svg);
  try {
    await writeFile(`${outBase}.png`, await svgToPng(svg));
    return { svg: `${outBase}.svg`, png: `${outBase}.png` };
  } catch (e) {
    process.stderr.write(`karakoram: PNG not written (${(e as Error).message}); the SVG is at ${outBase}.svg\n`);
    return { svg: `${outBase}.svg` };
  }
}
