/**
 * Learning-curve plots: two small fake runs (metrics.jsonl files) render to
 * an SVG naming both runs and to a valid PNG (signature, IHDR dimensions =
 * the SVG's size × scale, pixels decoded by an independent PNG reader here:
 * text is drawn, i.e. resvg found a font).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { readMetrics } from '../src/train/metrics.ts';
import type { MetricsRecord } from '../src/train/metrics.ts';
import { curvePoints, downsampleTrain, learningCurveSpec, wallUnit } from '../src/plot/learning-curves.ts';
import { plottingAvailable, svgToPng, vegaLiteToSvg } from '../src/plot/render.ts';

const dir = mkdtempSync(join(tmpdir(), 'lmpipe-plot-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function fakeRun(name: string, steps: number, secondsPerStep: number, evalEvery: number): string {
  const lines: string[] = [];
  for (let s = 1; s <= steps; s++) {
    const r: MetricsRecord = { step: s, tokens: s * 512, lr: 1e-3, loss: 9 * Math.exp(-s / 40) + 2, grad_norm: 1, tokens_per_s: 512 / secondsPerStep, elapsed_s: s * secondsPerStep };
    if (s % evalEvery === 0) r.val_loss = r.loss + 0.2;
    lines.push(JSON.stringify(r));
  }
  const p = join(dir, `${name}.jsonl`);
  writeFileSync(p, `${lines.join('\n')}\n{"step": 999, "lo`); // a torn last line, as after a crash
  return p;
}

/** Width, height, bit depth, colour type from a PNG's IHDR chunk (after checking the signature). */
function pngHeader(png: Uint8Array): { width: number; height: number; bitDepth: number; colorType: number } {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  assert.equal(view.getUint32(8), 13, 'IHDR length');
  assert.equal(String.fromCharCode(...png.subarray(12, 16)), 'IHDR');
  return { width: view.getUint32(16), height: view.getUint32(20), bitDepth: png[24], colorType: png[25] };
}

/** Decoded 8-bit pixels (PNG filters undone): rows of width·channels bytes. */
function pngPixels(png: Uint8Array, width: number, height: number, channels: number): Uint8Array {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const parts: Uint8Array[] = [];
  for (let off = 8; off < png.length;) {
    const len = view.getUint32(off);
    if (String.fromCharCode(...png.subarray(off + 4, off + 8)) === 'IDAT') parts.push(png.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(parts));
  const stride = width * channels;
  assert.equal(raw.length, height * (1 + stride), 'IDAT size matches the header');
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (1 + stride)];
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (1 + stride) + 1 + i];
      const a = i >= channels ? out[y * stride + i - channels] : 0;
      const b = y > 0 ? out[(y - 1) * stride + i] : 0;
      const c = i >= channels && y > 0 ? out[(y - 1) * stride + i - channels] : 0;
      let pred = 0;
      if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      out[y * stride + i] = (x + pred) & 0xff;
    }
  }
  return out;
}

/** Pixels darker than mid-grey (first channel) inside the box [0, w) × [0, h). */
function darkPixels(png: Uint8Array, boxW: number, boxH: number): number {
  const hdr = pngHeader(png);
  const channels = hdr.colorType === 6 ? 4 : hdr.colorType === 2 ? 3 : hdr.colorType === 4 ? 2 : 1;
  const px = pngPixels(png, hdr.width, hdr.height, channels);
  let dark = 0;
  for (let y = 0; y < Math.min(boxH, hdr.height); y++) {
    for (let x = 0; x < Math.min(boxW, hdr.width); x++) if (px[(y * hdr.width + x) * channels] < 128) dark++;
  }
  return dark;
}

const available = await plottingAvailable();
const skip = available ? false : (process.env.CI === 'true' ? false : 'vega / vega-lite / @resvg/resvg-js not installed');

test('two runs render to an SVG naming both runs and a valid PNG of the SVG size', { skip }, async () => {
  const a = readMetrics(fakeRun('alpha-run', 200, 0.5, 25));
  const b = readMetrics(fakeRun('beta-run', 120, 2, 20));
  assert.equal(a.length, 200, 'the torn last line is skipped');
  const svg = await vegaLiteToSvg(learningCurveSpec([{ name: 'alpha-run', records: a }, { name: 'beta-run', records: b }], { title: 'test curves' }));
  assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(svg.includes('alpha-run') && svg.includes('beta-run'), 'legend names both runs');
  assert.ok(svg.includes('wall-clock (minutes)') && svg.includes('>step<'), 'both panels titled');
  const w = Number(/<svg[^>]*\swidth="(\d+(?:\.\d+)?)"/.exec(svg)![1]);
  const h = Number(/<svg[^>]*\sheight="(\d+(?:\.\d+)?)"/.exec(svg)![1]);
  for (const scale of [1, 2]) {
    const png = await svgToPng(svg, { scale });
    const hdr = pngHeader(png);
    assert.equal(hdr.width, Math.ceil(w * scale));
    assert.equal(hdr.height, Math.ceil(h * scale));
    assert.equal(hdr.bitDepth, 8);
    // The title ("test curves", top left) is drawn only when resvg found a font.
    assert.ok(darkPixels(png, 120 * scale, 28 * scale) > 20 * scale, 'title text is drawn');
  }
});

test('text renders: an SVG with only a text element rasterizes to dark pixels', { skip }, async () => {
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><text x="5" y="30" font-family="sans-serif" font-size="24" fill="black">Hello 123</text></svg>';
  const png = await svgToPng(svg);
  assert.deepEqual([pngHeader(png).width, pngHeader(png).height], [200, 40]);
  assert.ok(darkPixels(png, 200, 40) > 100, 'glyphs were drawn (a font was found)');
  const blank = await svgToPng('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"></svg>');
  assert.equal(darkPixels(blank, 200, 40), 0);
});

test('wall-clock unit, downsampling and curve points', () => {
  assert.deepEqual(wallUnit(100), { label: 'seconds', divisor: 1 });
  assert.deepEqual(wallUnit(600), { label: 'minutes', divisor: 60 });
  assert.deepEqual(wallUnit(4 * 3600), { label: 'hours', divisor: 3600 });
  const recs: MetricsRecord[] = Array.from({ length: 10 }, (_, i) => ({ step: i + 1, tokens: 0, lr: 0, loss: i, grad_norm: 0, tokens_per_s: 0, elapsed_s: 2 * i }));
  // 10 records into 5 buckets of 2: means of (0,1), (2,3), … .
  assert.deepEqual(downsampleTrain(recs, 5).map((p) => p.loss), [0.5, 2.5, 4.5, 6.5, 8.5]);
  assert.deepEqual(downsampleTrain(recs, 5).map((p) => p.step), [1.5, 3.5, 5.5, 7.5, 9.5]);
  recs[3].val_loss = 7;
  recs[4].loss = Number.NaN;
  const { points } = curvePoints([{ name: 'r', records: recs }]);
  assert.equal(points.filter((p) => p.split === 'train').length, 9);
  assert.deepEqual(points.filter((p) => p.split === 'validation'), [{ run: 'r', split: 'validation', step: 4, wall: 6, loss: 7 }]);
});
