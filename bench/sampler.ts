/**
 * Batch sampling from a token file, the three ways lmpipe can read it, in
 * one process on the same file: memory-mapped through the native addon
 * (TokenFileReader's default), positional reads on a file descriptor
 * (TokenFileReader, access 'read'), and the whole file read into memory
 * first (MemoryTokenSource); and the peer in the same run: CS336's
 * get_batch on np.memmap (bench/sampler_numpy.py, python3 + numpy).
 *
 *   npx tsx bench/sampler.ts [--tokens 100000000] [--batches 2000] [--batch-size 32] [--context 256] [--dtype uint16|uint32]
 *
 * Human-readable lines on stderr, one JSON object on stdout (with the CPU
 * model; the numpy peer is skipped with a note when python3/numpy are missing).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Rng } from '../src/util/rng.ts';
import { MemoryTokenSource, TokenFileReader } from '../src/tokenizer/token-reader.ts';
import type { TokenSource } from '../src/tokenizer/token-reader.ts';
import { isTokenDtype, itemBytes, typedArrayFor } from '../src/tokenizer/token-dtype.ts';
import { sampleBatch, sequentialBatches } from '../src/train/batch-sampler.ts';
import { cpuModel } from './machine.ts';

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

  // Each variant warms the page cache with one pass first, so all see the same cache state.
  const rss0 = process.memoryUsage().rss;
  const measureFile = (access: 'map' | 'read'): { random: number; seq: number } | null => {
    let file: TokenFileReader;
    try {
      file = new TokenFileReader(path, { access });
    } catch (e) {
      log(`${access}: ${(e as Error).message}`);
      return null;
    }
    timeRandom(file);
    const r = { random: timeRandom(file), seq: timeSequential(file) };
    file.close();
    return r;
  };
  const mapped = measureFile('map');
  const positional = measureFile('read') as { random: number; seq: number };
  const fileRss = process.memoryUsage().rss - rss0;

  const t0 = performance.now();
  const mem = MemoryTokenSource.fromFile(path);
  const loadS = (performance.now() - t0) / 1000;
  timeRandom(mem);
  const memRandomS = timeRandom(mem);
  const memSeqS = timeSequential(mem);
  const memRss = process.memoryUsage().rss - rss0;

  const py = spawnSync('python3', [new URL('./sampler_numpy.py', import.meta.url).pathname, path, DTYPE, String(BATCHES), String(B), String(T)], { encoding: 'utf8' });
  const numpy = py.status === 0 ? JSON.parse(py.stdout.trim().split('\n').at(-1) as string) as { numpy: string; random_us_per_batch: number; sequential_us_per_batch: number } : null;
  if (!numpy) log(`numpy peer skipped: ${(py.error?.message ?? py.stderr).trim().split('\n').at(-1)}`);

  const perBatchUs = (s: number): number => Math.round((s / BATCHES) * 1e6 * 10) / 10;
  const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
  if (mapped) log(`memory-mapped:    random ${perBatchUs(mapped.random)} µs/batch, sequential ${perBatchUs(mapped.seq)} µs/batch, startup 0 s`);
  log(`positional reads: random ${perBatchUs(positional.random)} µs/batch, sequential ${perBatchUs(positional.seq)} µs/batch, startup 0 s (file readers' extra RSS ${mb(fileRss)} MB)`);
  log(`in memory:        random ${perBatchUs(memRandomS)} µs/batch, sequential ${perBatchUs(memSeqS)} µs/batch, extra RSS ${mb(memRss)} MB, load ${loadS.toFixed(2)} s`);
  if (numpy) log(`numpy memmap:     random ${numpy.random_us_per_batch} µs/batch, sequential ${numpy.sequential_us_per_batch} µs/batch (numpy ${numpy.numpy})`);
  const cpu = cpuModel();
  process.stdout.write(`${JSON.stringify({
    bench: 'sampler', cpu, cores: cpus().length, node: process.version,
    tokens: N, dtype: DTYPE, batches: BATCHES, batch_size: B, context_length: T,
    mapped: mapped ? { random_us_per_batch: perBatchUs(mapped.random), sequential_us_per_batch: perBatchUs(mapped.seq), load_s: 0 } : null,
    positional: { random_us_per_batch: perBatchUs(positional.random), sequential_us_per_batch: perBatchUs(positional.seq), load_s: 0 },
    in_memory: { random_us_per_batch: perBatchUs(memRandomS), sequential_us_per_batch: perBatchUs(memSeqS), extra_rss_mb: mb(memRss), load_s: Math.round(loadS * 1000) / 1000 },
    numpy_memmap: numpy,
    ratio_random_mapped_over_positional: mapped ? ratio(mapped.random, positional.random) : null,
    ratio_random_numpy_over_mapped: mapped && numpy ? ratio(numpy.random_us_per_batch, perBatchUs(mapped.random)) : null,
    ratio_random_positional_over_memory: ratio(positional.random, memRandomS),
  })}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
