/**
 * Sharded runs on one machine: encode and BPE counting as N local shard
 * processes (started together, as an engine would) vs one process on the
 * same input, in one run; plus the size of the count files and the merge
 * time per GB of input. Every sharded result is checked byte-identical to
 * the one-process result.
 *
 *   npx tsx bench/shards.ts [--input FILE ...] [--shards 2] [--reps 2]
 *
 * The one process and the N shards alternate; the speed-up is reported as
 * best/best and as the median of the alternating pairs' ratios.
 *
 * Default input: the shared corpora (books.txt + tinystories.txt). Human
 * lines go to stderr, one JSON object to stdout.
 */
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sharedPath } from '../src/util/shared-data.ts';
import { coresAvailable, cpuModel } from './machine.ts';
import { median } from './stats.ts';

const { values: args } = parseArgs({
  options: {
    input: { type: 'string', multiple: true },
    shards: { type: 'string', default: '2' },
    reps: { type: 'string', default: '2' },
  },
});
const log = (s: string): void => { process.stderr.write(`${s}\n`); };
const inputs = args.input && args.input.length > 0 ? args.input : [sharedPath('corpora', 'books.txt'), sharedPath('corpora', 'tinystories.txt')];
const N = Number(args.shards);
const reps = Math.max(1, Number(args.reps));
const bytes = inputs.reduce((t, f) => t + statSync(f).size, 0);
const tmp = mkdtempSync(join(tmpdir(), 'lmpipe-bench-shards-'));

/**
 * Runs a pipeline process; resolves with the seconds of its work: from the
 * summary where it reports them (encode: bytes / mb_per_s; count-pretokens:
 * the sum of its stages' seconds), else the wall time. Process start-up
 * (loading tsx, the tokenizer, the addon) is left out, as it would be for a
 * shard of a real job, which reads far more than these inputs.
 */
function run(script: string, argv: string[]): Promise<number> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', `pipelines/${script}.ts`, ...argv, '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('exit', (code) => {
      if (code !== 0) { reject(new Error(`${script} exited ${code}: ${err}`)); return; }
      const s = JSON.parse(out.trim().split('\n').pop() as string) as { mb_per_s?: number; bytes?: number; stages?: Record<string, { seconds: number }> };
      if (s.mb_per_s && s.bytes) resolve(s.bytes / 1e6 / s.mb_per_s);
      else if (s.stages) resolve(Object.values(s.stages).reduce((a, x) => a + x.seconds, 0));
      else resolve((performance.now() - t) / 1000);
    });
  });
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** Seconds of the slowest of processes run at once (their work overlaps). */
async function together(runs: Array<Promise<number>>): Promise<number> {
  return Math.max(...(await Promise.all(runs)));
}

const inputArgs = inputs.flatMap((f) => ['-i', f]);

async function main(): Promise<void> {
  const cpu = cpuModel();
  log(`${cpu}, ${cpus().length} cores; ${inputs.length} input file(s), ${(bytes / 1e6).toFixed(1)} MB; ${N} shards`);
  const tok = join(tmp, 'tok');
  await run('train-bpe', ['-i', inputs[0], '--vocab-size', '10000', '-o', tok]);
  const coresBefore = await coresAvailable();
  log(`cores available (2-thread spin speed-up): ${coresBefore.toFixed(2)}`);
  const best = { encodeOne: Infinity, encodeShards: Infinity, countOne: Infinity, countShards: Infinity, merge: Infinity };
  // One process and N shards alternate, so each pair sees about the same
  // load from other jobs; the median of the pairs' ratios is the figure
  // least moved by them (best/best is reported too).
  const pairs = { encode: [] as number[], count: [] as number[] };
  for (let r = 0; r < reps; r++) {
    rmSync(join(tmp, 'one.bin'), { force: true });
    const encodeOne = await run('encode', ['-t', tok, ...inputArgs, '-o', join(tmp, 'one.bin'), '--workers', '0', '--force']);
    rmSync(join(tmp, 'parts'), { recursive: true, force: true });
    const encodeShards = await together(Array.from({ length: N }, (_, i) => run('encode', ['-t', tok, ...inputArgs, '-o', join(tmp, 'parts'), '--shard', `${i}/${N}`, '--workers', '0'])));
    const countOne = await run('count-pretokens', [...inputArgs, '-o', join(tmp, 'one.counts'), '--workers', '0', '--force']);
    rmSync(join(tmp, 'counts'), { recursive: true, force: true });
    const countShards = await together(Array.from({ length: N }, (_, i) => run('count-pretokens', [...inputArgs, '-o', join(tmp, 'counts'), '--shard', `${i}/${N}`, '--workers', '0'])));
    rmSync(join(tmp, 'total.counts'), { force: true });
    best.merge = Math.min(best.merge, await run('merge-counts', [join(tmp, 'counts', '*.counts'), '-o', join(tmp, 'total.counts')]));
    best.encodeOne = Math.min(best.encodeOne, encodeOne);
    best.encodeShards = Math.min(best.encodeShards, encodeShards);
    best.countOne = Math.min(best.countOne, countOne);
    best.countShards = Math.min(best.countShards, countShards);
    pairs.encode.push(encodeOne / encodeShards);
    pairs.count.push(countOne / countShards);
    log(`rep ${r + 1}: encode ${(encodeOne / encodeShards).toFixed(2)}x, count ${(countOne / countShards).toFixed(2)}x`);
  }
  const coresAfter = await coresAvailable();
  log(`cores available at the end: ${coresAfter.toFixed(2)}`);
  const parts = readdirSync(join(tmp, 'parts')).filter((f) => f.endsWith('.bin')).sort();
  const identical = Buffer.concat(parts.map((f) => readFileSync(join(tmp, 'parts', f)))).equals(readFileSync(join(tmp, 'one.bin')));
  const countsIdentical = readFileSync(join(tmp, 'total.counts')).equals(readFileSync(join(tmp, 'one.counts')));
  const countsBytes = statSync(join(tmp, 'one.counts')).size;
  const mb = bytes / 1e6;
  const result = {
    bench: 'shards', cpu, cores: cpus().length, cores_available: { before: round2(coresBefore), after: round2(coresAfter) }, input_mb: Math.round(mb * 10) / 10, shards: N,
    encode: { one_process_mb_s: +(mb / best.encodeOne).toFixed(2), shards_mb_s: +(mb / best.encodeShards).toFixed(2), speedup: +(best.encodeOne / best.encodeShards).toFixed(2), speedup_median_pair: round2(median(pairs.encode)), speedup_pairs: pairs.encode.map(round2), identical },
    count: { one_process_mb_s: +(mb / best.countOne).toFixed(2), shards_mb_s: +(mb / best.countShards).toFixed(2), speedup: +(best.countOne / best.countShards).toFixed(2), speedup_median_pair: round2(median(pairs.count)), speedup_pairs: pairs.count.map(round2), identical: countsIdentical },
    counts_file: { bytes: countsBytes, bytes_per_gb_input: Math.round(countsBytes / (bytes / 1e9)) },
    merge_counts: { seconds: +best.merge.toFixed(3), seconds_per_gb_input: +(best.merge / (bytes / 1e9)).toFixed(2) },
    note: 'seconds of work as each process reports it (start-up left out; merge-counts: wall, start-up included); N shard processes run at once, each encoding and counting on its main thread (--workers 0), as the one process does',
  };
  log(JSON.stringify(result, null, 2));
  process.stdout.write(`${JSON.stringify(result)}\n`);
  rmSync(tmp, { recursive: true, force: true });
}

await main();
