/**
 * Batch sampling from a token file: positional reads on a file descriptor
 * (TokenFileReader) vs reading the whole file into memory first
 * (MemoryTokenSource), in one process on the same file.
 *
 *   npx tsx bench/sampler.ts [--tokens 100000000] [--batches 2000] [--batch-size 32] [--context 256] [--dtype uint16|uint32]
 *
 * Human-readable lines on stderr, one JSON object on stdout.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Rng } from '../src/util/rng.ts';
import { MemoryTokenSource, TokenFileReader } from '../src/tokenizer/token-reader.ts';
import type { TokenSource } from '../src/tokenizer/token-reader.ts';
import { isTokenDtype, itemBytes, typedArrayFor } from '../src/tokenizer/token-dtype.ts';
import { sampleBatch, sequentialBatches } from '../src/train/batch-sampler.ts';

const { values } = parseArgs({
  options: {
    tokens: { type: 'string', default: '100000000' },
    batches: { type: 'string', default: '2000' },
    'batch-size': { type: 'string', default: '32' },
    context: { type: 'string', default: '256' },
    dtype: { type: 'string', default: 'uint16' },
  },
});
const N = Number(values.tokens);
const BATCHES = Number(values.batches);
const B = Number(values['batch-size']);
const T = Number(values.context);
const DTYPE = values.dtype;
if (!isTokenDtype(DTYPE)) throw new Error(`--dtype ${DTYPE}: expected uint16 or uint32`);
const WIDTH = itemBytes(DTYPE);

const log = (s: string): void => { process.stderr.write(`${s}\n`); };
const mb = (n: number): number => Math.round(n / 1e6);

const dir = mkdtempSync(join(tmpdir(), 'lmpipe-bench-sampler-'));
const path = join(dir, 'tokens.bin');
try {
  // A synthetic token file without a sidecar (read as uint16) or with one saying uint32, written in chunks of 8 Mi ids.
  const fd = openSync(path, 'w');
  const rng = new Rng(1);
  const chunk = new (typedArrayFor(DTYPE))(8 * 1024 * 1024);
  for (let done = 0; done < N; done += chunk.length) {
    const n = Math.min(chunk.length, N - done);
    for (let i = 0; i < n; i++) chunk[i] = rng.nextUint32() & 0xffff;
    writeSync(fd, new Uint8Array(chunk.buffer, 0, n * WIDTH));
  }
  closeSync(fd);
  if (DTYPE === 'uint32') {
    writeFileSync(`${path}.json`, JSON.stringify({ format: 'lmpipe-tokens', version: 1, dtype: DTYPE, itemBytes: WIDTH, tokens: N, sourceBytes: 0, vocabSize: 0x10000, tokenizerHash: 'bench', specialTokens: {} }));
  }
  log(`token file: ${N} ${DTYPE} tokens (${mb(N * WIDTH)} MB), ${BATCHES} batches of ${B}×${T + 1}`);

  const timeRandom = (src: TokenSource): number => {
    const r = new Rng(42);
    const t0 = performance.now();
    for (let i = 0; i < BATCHES; i++) sampleBatch(src, r, B, T);
    return (performance.now() - t0) / 1000;
  };
  const timeSequential = (src: TokenSource): number => {
    const t0 = performance.now();
    let n = 0;
    for (const _ of sequentialBatches(src, B, T, BATCHES)) n++;
    return (performance.now() - t0) / 1000;
  };

  // Positional reads (warm the page cache first so both variants see the same cache state).
  const rss0 = process.memoryUsage().rss;
  const file = new TokenFileReader(path);
  timeRandom(file);
  const fileRandomS = timeRandom(file);
  const fileSeqS = timeSequential(file);
  const fileRss = process.memoryUsage().rss - rss0;
  file.close();

  const t0 = performance.now();
  const mem = MemoryTokenSource.fromFile(path);
  const loadS = (performance.now() - t0) / 1000;
  timeRandom(mem);
  const memRandomS = timeRandom(mem);
  const memSeqS = timeSequential(mem);
  const memRss = process.memoryUsage().rss - rss0;

  const perBatchUs = (s: number): number => Math.round((s / BATCHES) * 1e6 * 10) / 10;
  log(`positional reads: random ${perBatchUs(fileRandomS)} µs/batch, sequential ${perBatchUs(fileSeqS)} µs/batch, extra RSS ${mb(fileRss)} MB, startup 0 s`);
  log(`in memory:        random ${perBatchUs(memRandomS)} µs/batch, sequential ${perBatchUs(memSeqS)} µs/batch, extra RSS ${mb(memRss)} MB, load ${loadS.toFixed(2)} s`);
  log(`ratio (positional / in-memory time per random batch): ${(fileRandomS / memRandomS).toFixed(2)}`);
  process.stdout.write(`${JSON.stringify({
    tokens: N, dtype: DTYPE, batches: BATCHES, batch_size: B, context_length: T,
    positional: { random_us_per_batch: perBatchUs(fileRandomS), sequential_us_per_batch: perBatchUs(fileSeqS), extra_rss_mb: mb(fileRss), load_s: 0 },
    in_memory: { random_us_per_batch: perBatchUs(memRandomS), sequential_us_per_batch: perBatchUs(memSeqS), extra_rss_mb: mb(memRss), load_s: Math.round(loadS * 1000) / 1000 },
    ratio_random_positional_over_memory: Math.round((fileRandomS / memRandomS) * 100) / 100,
  })}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
