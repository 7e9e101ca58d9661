/**
 * Sharded runs on one machine: encode and BPE counting as N local shard
 * processes (started together, as an engine would) vs one process on the
 * same input, in one run; plus the size of the count files and the merge
 * time per GB of input. Every sharded result is checked byte-identical to
 * the one-process result.
 *
 *   npx tsx bench/shards.ts [--input FILE ...] [--shards 2] [--reps 2]
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

/** Seconds of the slowest of processes run at once (their work overlaps). */
async function together(runs: Array<Promise<number>>): Promise<number> {
  return Math.max(...(await Promise.all(runs)));
}

const inputArgs = inputs.flatMap((f) => ['-i', f]);

async function main(): Promise<void> {
  const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  log(`${cpu}, ${cpus().length} cores; ${inputs.length} input file(s), ${(bytes / 1e6).toFixed(1)} MB; ${N} shards`);
  const tok = join(tmp, 'tok');
  await run('train-bpe', ['-i', inputs[0], '--vocab-size', '10000', '-o', tok]);
  const best = { encodeOne: Infinity, encodeShards: Infinity, countOne: Infinity, countShards: Infinity, merge: Infinity };
  for (let r = 0; r < reps; r++) {
    rmSync(join(tmp, 'one.bin'), { force: true });
    best.encodeOne = Math.min(best.encodeOne, await run('encode', ['-t', tok, ...inputArgs, '-o', join(tmp, 'one.bin'), '--workers', '0', '--force']));
    rmSync(join(tmp, 'parts'), { recursive: true, force: true });
    best.encodeShards = Math.min(best.encodeShards, await together(Array.from({ length: N }, (_, i) => run('encode', ['-t', tok, ...inputArgs, '-o', join(tmp, 'parts'), '--shard', `${i}/${N}`, '--workers', '0']))));
    best.countOne = Math.min(best.countOne, await run('count-pretokens', [...inputArgs, '-o', join(tmp, 'one.counts'), '--workers', '0', '--force']));
    rmSync(join(tmp, 'counts'), { recursive: true, force: true });
    best.countShards = Math.min(best.countShards, await together(Array.from({ length: N }, (_, i) => run('count-pretokens', [...inputArgs, '-o', join(tmp, 'counts'), '--shard', `${i}/${N}`, '--workers', '0']))));
    rmSync(join(tmp, 'total.counts'), { force: true });
    best.merge = Math.min(best.merge, await run('merge-counts', [join(tmp, 'counts', '*.counts'), '-o', join(tmp, 'total.counts')]));
  }
  const parts = readdirSync(join(tmp, 'parts')).filter((f) => f.endsWith('.bin')).sort();
  const identical = Buffer.concat(parts.map((f) => readFileSync(join(tmp, 'parts', f)))).equals(readFileSync(join(tmp, 'one.bin')));
  const countsIdentical = readFileSync(join(tmp, 'total.counts')).equals(readFileSync(join(tmp, 'one.counts')));
  const countsBytes = statSync(join(tmp, 'one.counts')).size;
  const mb = bytes / 1e6;
  const result = {
    bench: 'shards', cpu, cores: cpus().length, input_mb: Math.round(mb * 10) / 10, shards: N,
    encode: { one_process_mb_s: +(mb / best.encodeOne).toFixed(2), shards_mb_s: +(mb / best.encodeShards).toFixed(2), speedup: +(best.encodeOne / best.encodeShards).toFixed(2), identical },
    count: { one_process_mb_s: +(mb / best.countOne).toFixed(2), shards_mb_s: +(mb / best.countShards).toFixed(2), speedup: +(best.countOne / best.countShards).toFixed(2), identical: countsIdentical },
    counts_file: { bytes: countsBytes, bytes_per_gb_input: Math.round(countsBytes / (bytes / 1e9)) },
    merge_counts: { seconds: +best.merge.toFixed(3), seconds_per_gb_input: +(best.merge / (bytes / 1e9)).toFixed(2) },
    note: 'seconds of work as each process reports it (start-up left out; merge-counts: wall, start-up included); N shard processes run at once, each encoding and counting on its main thread (--workers 0), as the one process does',
  };
  log(JSON.stringify(result, null, 2));
  process.stdout.write(`${JSON.stringify(result)}\n`);
  rmSync(tmp, { recursive: true, force: true });
}

await main();
