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

/** Runs a pipeline process; resolves with its wall seconds. */
function run(script: string, argv: string[]): Promise<number> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', `pipelines/${script}.ts`, ...argv, '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('exit', (code) => (code === 0 ? resolve((performance.now() - t) / 1000) : reject(new Error(`${script} exited ${code}: ${err}`))));
  });
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
    best.encodeOne = Math.min(best.encodeOne, await run('encode', ['-t', tok, ...inputArgs, '-o', join(tmp, 'one.bin'), '--workers', '1', '--force']));
    rmSync(join(tmp, 'parts'), { recursive: true, force: true });
    const t = performance.now();
    await Promise.all(Array.from({ length: N }, (_, i) => run('encode', ['-t', tok, ...inputArgs, '-o', join(tmp, 'parts'), '--shard', `${i}/${N}`, '--workers', '1'])));
    best.encodeShards = Math.min(best.encodeShards, (performance.now() - t) / 1000);
    best.countOne = Math.min(best.countOne, await run('count-pretokens', [...inputArgs, '-o', join(tmp, 'one.counts'), '--workers', '0', '--force']));
    rmSync(join(tmp, 'counts'), { recursive: true, force: true });
    const c = performance.now();
    await Promise.all(Array.from({ length: N }, (_, i) => run('count-pretokens', [...inputArgs, '-o', join(tmp, 'counts'), '--shard', `${i}/${N}`, '--workers', '0'])));
    best.countShards = Math.min(best.countShards, (performance.now() - c) / 1000);
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
    merge_counts: { seconds: +best.merge.toFixed(3), seconds_per_gb_input: +(best.merge / (bytes / 1e9)).toFixed(2), note: 'process start-up included' },
    note: 'wall times include process start-up (~1 s each under tsx); N shard processes run at once, each with 1 encode worker / counting on its main thread',
  };
  log(JSON.stringify(result, null, 2));
  process.stdout.write(`${JSON.stringify(result)}\n`);
  rmSync(tmp, { recursive: true, force: true });
}

await main();
