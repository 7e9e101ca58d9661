/**
 * Headless rendering of Vega-Lite specs: vega-lite compiles to Vega, Vega
 * renders an SVG string (no browser, no canvas), and resvg rasterizes the
 * SVG to PNG. resvg draws no text without fonts: it loads the system fonts
 * plus the DejaVu fonts (Debian `fonts-dejavu-core`, /usr/share/fonts), and
 * `fontFiles` can add more.
 *
 * vega, vega-lite and @resvg/resvg-js are loaded on first use, so the rest
 * of lmpipe works without them; a missing package is a UserError naming the
 * install command.
 */
import { existsSync } from 'node:fs';
import { UserError } from '../pipeline/errors.ts';

/** The packages (exact versions tested) that plotting needs. */
export const PLOT_PACKAGES = ['vega@6.4.0', 'vega-lite@6.4.3', '@resvg/resvg-js@2.6.2'] as const;

type VegaModule = typeof import('vega');
type VegaLiteModule = typeof import('vega-lite');
type ResvgModule = typeof import('@resvg/resvg-js');

async function load<T>(name: string): Promise<T> {
  try {
    return await import(name) as T;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new UserError(`plotting needs the package ${name}, which is not installed; run \`npm install ${PLOT_PACKAGES.join(' ')}\``);
    }
    throw e;
  }
}

/** Whether the plotting packages can be loaded (for tests and --help). */
export async function plottingAvailable(): Promise<boolean> {
  try {
    await Promise.all([load('vega'), load('vega-lite'), load('@resvg/resvg-js')]);
    return true;
  } catch {
    return false;
  }
}

/** Renders a Vega-Lite spec to an SVG document string. */
export async function vegaLiteToSvg(spec: Record<string, unknown>): Promise<string> {
  const vega = await load<VegaModule>('vega');
  const vl = await load<VegaLiteModule>('vega-lite');
  const compiled = vl.compile(spec as unknown as Parameters<VegaLiteModule['compile']>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Font directories searched in addition to the system fonts. */
export const FONT_DIRS = ['/usr/share/fonts/truetype/dejavu', '/usr/share/fonts'];

export interface PngOptions {
  /** Output scale (2 = double resolution). */
  scale?: number;
  /** Extra font files. */
  fontFiles?: string[];
}

/** Rasterizes an SVG string to PNG bytes. */
export async function svgToPng(svg: string, options: PngOptions = {}): Promise<Uint8Array> {
  const { Resvg } = await load<ResvgModule>('@resvg/resvg-js');
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: options.scale ?? 1 },
    font: {
      loadSystemFonts: true,
      fontDirs: FONT_DIRS.filter((d) => existsSync(d)),
      fontFiles: options.fontFiles ?? [],
      defaultFontFamily: 'DejaVu Sans',
      sansSerifFamily: 'DejaVu Sans',
    },
  });
  return resvg.render().asPng();
}
