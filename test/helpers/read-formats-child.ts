/**
 * Child process for reader-formats.test.ts (run with --expose-gc): reads one
 * input with `readInputs`, as a consumer that drops each chunk, and prints,
 * as JSON, the decoded bytes, the largest chunk, the memory held after a
 * full GC every 4 chunks (JS heap + ArrayBuffers, over the start) and the
 * resident set size before reading and at its peak (process.resourceUsage).
 * Args: path chunkBytes separator.
 */
import { readInputs, resolveInputs } from '../../src/stages/read-inputs.ts';

const [path, chunk, separator] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const chunkBytes = Number(chunk);
const files = await resolveInputs([path]);
// ArrayBuffers are swept after the GC: collect, let the sweep run, collect again.
const held = async (): Promise<number> => {
  gc();
  await new Promise((r) => setTimeout(r, 5));
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const base = await held();
const baseRss = process.memoryUsage().rss;
let bytes = 0;
let maxChunk = 0;
let chunks = 0;
let maxHeld = 0;
for await (const c of readInputs(files, chunkBytes, { separator })) {
  bytes += c.data.length;
  maxChunk = Math.max(maxChunk, c.data.length);
  if (++chunks % 4 === 0) maxHeld = Math.max(maxHeld, (await held()) - base);
}
console.log(JSON.stringify({ bytes, chunks, maxChunk, maxHeld, baseRss, peakRss: process.resourceUsage().maxRSS * 1024 }));
