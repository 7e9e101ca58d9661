/**
 * Real batch engines, run for real: the files in examples/batch/ under a
 * single-node Slurm (sbatch job array + an `afterok` merge job) and under GNU
 * parallel, with `--shard auto` reading each engine's own variables. Each
 * flow's result must equal the one-process run byte for byte: the encoded
 * token file (parts joined by merge-tokens), and the tokenizer trained from
 * sharded counts (count-pretokens, merge-counts, train-bpe --from-counts).
 * The Slurm jobs are submitted first and run while the GNU parallel flows do.
 *
 * Slurm: needs `sbatch` and running daemons (`bash scripts/slurm-local.sh
 * start`, as .ci/run does); skipped otherwise, failed instead when CI=true
 * and LMPIPE_SLURM=1. GNU parallel: needs the `parallel` of GNU (Debian
 * package `parallel`); skipped without it, failed when CI=true.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from '../src/util/shared-data.ts';
import { runPipeline } from './helpers/cli.ts';
import { sotuText } from './helpers/sotu.ts';

const CI = process.env.CI === 'true';
const EXAMPLES = join(REPO_ROOT, 'examples', 'batch');
const SHARDS = 3;
const VOCAB = 400;
/** Longest wait for one engine flow (array + dependent job). */
const FLOW_TIMEOUT_MS = 240_000;

const hasPipeline = (name: string): boolean => existsSync(join(REPO_ROOT, 'pipelines', `${name}.ts`));
const countPipelinesMissing = ['count-pretokens', 'merge-counts'].filter((n) => !hasPipeline(n));
const fromCountsMissing = countPipelinesMissing.length === 0 && !readFileSync(join(REPO_ROOT, 'pipelines', 'train-bpe.ts'), 'utf8').includes('fromCounts');
const countSkip = countPipelinesMissing.length > 0
  ? `pipelines/${countPipelinesMissing.join('.ts, pipelines/')}.ts not there yet`
  : fromCountsMissing ? 'train-bpe has no --from-counts yet' : false;

/** Why Slurm cannot be used here, or null when sbatch works and the node is up. */
function slurmUnavailable(): string | null {
  const v = spawnSync('sbatch', ['--version'], { encoding: 'utf8' });
  if (v.error || v.status !== 0) return 'sbatch not found (Debian: apt-get install slurm-wlm munge; then, as root, bash scripts/slurm-local.sh start)';
  const s = spawnSync('sinfo', ['-h', '-N', '-o', '%T'], { encoding: 'utf8', timeout: 15_000 });
  const states = (s.stdout ?? '').trim().split(/\s+/).filter(Boolean);
  if (s.status !== 0 || !states.some((st) => /^(idle|mixed|allocated|completing)/.test(st))) {
    return `no Slurm node is up (sinfo: ${(s.stdout || s.stderr || 'no answer').trim().split('\n')[0]}); as root: bash scripts/slurm-local.sh start`;
  }
  return null;
}

/** Why GNU parallel cannot be used here, or null. */
function parallelUnavailable(): string | null {
  const v = spawnSync('parallel', ['--version'], { encoding: 'utf8' });
  if (v.error || v.status !== 0 || !/GNU parallel/.test(v.stdout)) return 'GNU parallel not found (Debian: apt-get install parallel)';
  return null;
}

const slurmReason = slurmUnavailable();
const parallelReason = parallelUnavailable();
const slurmMustRun = CI && process.env.LMPIPE_SLURM === '1';
/** A skip reason for node:test, or false when the engine must run (a missing engine then fails the test). */
const slurmSkip = slurmReason && !slurmMustRun ? `Slurm: ${slurmReason}` : false;
const parallelSkip = parallelReason && !CI ? `GNU parallel: ${parallelReason}` : false;
if (slurmSkip) process.stderr.write(`note: engines.test.ts: skipping the Slurm flows: ${slurmReason}\n`);
if (parallelSkip) process.stderr.write(`note: engines.test.ts: skipping the GNU parallel flows: ${parallelReason}\n`);

/** An environment for the engines: this process's, without any shard variable that would win over the engine's own. */
function engineEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of ['LMPIPE_SHARD', 'SLURM_ARRAY_TASK_ID', 'SLURM_ARRAY_TASK_MIN', 'SLURM_ARRAY_TASK_COUNT', 'BATCH_TASK_INDEX', 'BATCH_TASK_COUNT', 'JOB_COMPLETION_INDEX', 'AWS_BATCH_JOB_ARRAY_INDEX', 'PARALLEL_SEQ']) delete env[k];
  // Node's test runner marks its children; the pipelines the engines start are not tests.
  delete env.NODE_TEST_CONTEXT;
  return env;
}

/** The fenced bash block that follows `<!-- tested: NAME -->` in examples/batch/README.md. */
function readmeBlock(name: string): string[] {
  const text = readFileSync(join(EXAMPLES, 'README.md'), 'utf8');
  const m = new RegExp(`<!-- tested: ${name} -->\\n\`\`\`bash\\n([\\s\\S]*?)\\n\`\`\``).exec(text);
  assert.ok(m, `examples/batch/README.md has no block marked <!-- tested: ${name} -->`);
  return m[1].split('\n').filter((l) => l.trim() !== '');
}

/** Replaces each key of `subs` (longest first) by its value. */
function substitute(line: string, subs: Record<string, string>): string {
  let out = line;
  for (const k of Object.keys(subs).sort((a, b) => b.length - a.length)) out = out.split(k).join(subs[k]);
  return out;
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? REPO_ROOT, env: opts.env, encoding: 'utf8', timeout: opts.timeout ?? FLOW_TIMEOUT_MS, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}` };
}

/** Every Slurm log in `dir`, for a failure message. */
function slurmLogs(dir: string): string {
  return readdirSync(dir).filter((f) => f.startsWith('slurm-')).sort()
    .map((f) => `--- ${f}\n${readFileSync(join(dir, f), 'utf8').slice(-3000)}`).join('\n');
}

/** The last JSON line of a log: the pipeline's summary. */
function summaryIn(text: string): Record<string, unknown> {
  const line = text.trim().split('\n').reverse().find((l) => l.startsWith('{"pipeline"'));
  assert.ok(line, `no pipeline summary in:\n${text.slice(-2000)}`);
  return JSON.parse(line) as Record<string, unknown>;
}

/** The part files in `dir` with extension `ext`, in order. */
function partsOf(dir: string, ext: string): string[] {
  return readdirSync(dir).filter((f) => f.startsWith('part-') && f.endsWith(ext)).sort().map((f) => join(dir, f));
}

/** With merge-tokens, the merged file has a sidecar that agrees with the one-process file's. */
function assertMergedSidecar(out: string, ref: string): void {
  if (!hasPipeline('merge-tokens')) return;
  const read = (p: string): Record<string, unknown> => JSON.parse(readFileSync(`${p}.json`, 'utf8')) as Record<string, unknown>;
  const got = read(out);
  const want = read(ref);
  for (const k of ['format', 'dtype', 'tokens', 'sourceBytes', 'vocabSize', 'tokenizerHash']) assert.deepEqual(got[k], want[k], `${out}.json: ${k}`);
}

/** Tokenizer files that must be byte-identical between two trainings (lmpipe.json also records how it was trained). */
function assertSameTokenizer(got: string, want: string): void {
  for (const f of ['vocab.json', 'merges.txt', 'tokenizer.json']) {
    assert.ok(readFileSync(join(got, f)).equals(readFileSync(join(want, f))), `${f} differs from the one-process train-bpe`);
  }
  const hash = (d: string): unknown => (JSON.parse(readFileSync(join(d, 'lmpipe.json'), 'utf8')) as { tokenizerHash: unknown }).tokenizerHash;
  assert.equal(hash(got), hash(want));
}

/** A submitted Slurm pair: an array job and the job that runs after it (afterok). */
interface SlurmPair {
  dir: string;
  arrayId: string;
  afterId: string;
}

/** Submits `arrayScript` as --array=0-(SHARDS-1) and `afterScript` with --dependency=afterok on it; returns at once. */
function submitPair(dir: string, env: NodeJS.ProcessEnv, arrayScript: string, afterScript: string): SlurmPair {
  const id = (r: { status: number | null; stdout: string; stderr: string }, what: string): string => {
    assert.equal(r.status, 0, `sbatch ${what}: ${r.stderr}`);
    const jobId = r.stdout.trim().split(';')[0];
    assert.match(jobId, /^\d+$/, `sbatch ${what} printed ${JSON.stringify(r.stdout)}`);
    return jobId;
  };
  const arrayId = id(run('sbatch', ['--parsable', `--chdir=${dir}`, `--output=${dir}/slurm-%x-%A_%a.out`,
    `--array=0-${SHARDS - 1}`, '--cpus-per-task=1', join(EXAMPLES, arrayScript)], { env, timeout: 30_000 }), arrayScript);
  const afterId = id(run('sbatch', ['--parsable', `--chdir=${dir}`, `--output=${dir}/slurm-%x-%j.out`,
    `--dependency=afterok:${arrayId}`, '--kill-on-invalid-dep=yes', join(EXAMPLES, afterScript)], { env, timeout: 30_000 }), afterScript);
  return { dir, arrayId, afterId };
}

const FINAL_STATES = /^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE)/;

/** Waits until job `id` has ended (polling scontrol: sbatch --wait polls every few seconds) and returns its state. */
async function waitForJob(id: string, timeoutMs: number): Promise<string> {
  const t0 = Date.now();
  let state = 'unknown';
  while (Date.now() - t0 < timeoutMs) {
    const r = run('scontrol', ['-o', 'show', 'job', id], { timeout: 15_000 });
    state = /JobState=(\S+)/.exec(r.stdout)?.[1] ?? 'unknown';
    if (FINAL_STATES.test(state)) return state;
    await sleep(250);
  }
  run('scancel', [id], { timeout: 10_000 });
  return `${state} (gave up after ${timeoutMs / 1000} s and cancelled it)`;
}

/** Waits for a pair's second job; fails with every Slurm log when it did not complete. */
async function finishPair(pair: SlurmPair): Promise<void> {
  const state = await waitForJob(pair.afterId, FLOW_TIMEOUT_MS);
  if (state !== 'COMPLETED') {
    run('scancel', [pair.arrayId], { timeout: 10_000 });
    assert.fail(`Slurm job ${pair.afterId} (after array job ${pair.arrayId}) ended ${state}\n${slurmLogs(pair.dir)}`);
  }
}

/** Checks that each array task took its shard from the engine's variables (the summaries in the task logs). */
function assertShardSources(dir: string, logPrefix: string, source: RegExp): void {
  const logs = readdirSync(dir).filter((f) => f.startsWith(logPrefix)).sort();
  assert.equal(logs.length, SHARDS, `array task logs: ${logs.join(', ')}`);
  const seen = logs.map((f) => {
    const s = summaryIn(readFileSync(join(dir, f), 'utf8')).shard as { index: number; count: number; source: string };
    assert.match(s.source, source);
    assert.equal(s.count, SHARDS);
    return s.index;
  });
  assert.deepEqual(seen.sort(), [0, 1, 2]);
}

describe('batch engines (examples/batch)', { skip: slurmSkip && parallelSkip ? 'neither Slurm nor GNU parallel is available' : false }, () => {
  let root = '';
  let corpus = '';
  let tok = '';
  let refBin = '';
  /** Submitted first, so Slurm works while the GNU parallel flows run. */
  const slurm: { encode?: SlurmPair; count?: SlurmPair; error?: unknown } = {};

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'lmpipe-engines-'));
    corpus = join(root, 'corpus.txt');
    writeFileSync(corpus, sotuText({ maxBytes: 300_000, docChars: 4000 }));
    tok = join(root, 'tok');
    const t = runPipeline('train-bpe', ['--input', corpus, '--vocab-size', String(VOCAB), '--special-token', '<|endoftext|>', '--out', tok, '--quiet']);
    assert.equal(t.status, 0, t.stderr);
    refBin = join(root, 'ref.bin');
    const e = runPipeline('encode', ['--tokenizer', tok, '--input', corpus, '--out', refBin, '--workers', '0', '--quiet']);
    assert.equal(e.status, 0, e.stderr);
    assert.ok(readFileSync(refBin).length > 10_000);
    if (slurmSkip || slurmReason) return;
    try {
      const enc = join(root, 'slurm-encode');
      mkdirSync(enc);
      slurm.encode = submitPair(enc, engineEnv({ REPO: REPO_ROOT, TOKENIZER: tok, CORPUS: corpus, PARTS: join(enc, 'parts'), OUT: join(enc, 'train.bin'), WORKERS: '0' }),
        'encode-array.sbatch', 'merge-tokens.sbatch');
      if (!countSkip) {
        const cnt = join(root, 'slurm-count');
        mkdirSync(cnt);
        slurm.count = submitPair(cnt, engineEnv({ REPO: REPO_ROOT, CORPUS: corpus, COUNTS: join(cnt, 'counts'), TOKENIZER: join(cnt, 'tok'), VOCAB_SIZE: String(VOCAB), WORKERS: '0' }),
          'count-array.sbatch', 'train-from-counts.sbatch');
      }
    } catch (e) {
      slurm.error = e;
    }
  });

  after(() => {
    for (const p of [slurm.encode, slurm.count]) if (p) run('scancel', [p.arrayId, p.afterId], { timeout: 10_000 });
    if (root) rmSync(root, { recursive: true, force: true });
  });

  describe('GNU parallel (PARALLEL_SEQ, --shard-count)', { skip: parallelSkip }, () => {
    before(() => {
      if (parallelReason) assert.fail(`CI=true, but GNU parallel is not usable: ${parallelReason}`);
    });

    /** Runs the README block's lines (after substitution) as one bash script from the repository root; returns the summaries. */
    function runBlock(lines: string[], dir: string, name: string): string[] {
      const script = join(dir, `${name}.sh`);
      writeFileSync(script, `set -euo pipefail\n${lines.join('\n')}\n`);
      const r = run('bash', [script], { env: engineEnv({}) });
      assert.equal(r.status, 0, `${lines.join('\n')}\nexit ${r.status}\n${r.stderr.slice(-4000)}`);
      return r.stdout.trim().split('\n').filter((l) => l.startsWith('{"pipeline"'));
    }

    it(`the README's parallel line (${SHARDS} shards, 2 jobs) + merge-tokens equals the one-process encode`, () => {
      const dir = join(root, 'parallel-encode');
      mkdirSync(dir);
      const parts = join(dir, 'parts');
      const out = join(dir, 'train.bin');
      const block = readmeBlock('parallel-encode');
      assert.match(block[0], /^parallel -N0 .*--shard auto --shard-count 3 .*' ::: 1 2 3$/);
      const subs = { 'out/tok': tok, 'corpus/*.txt': corpus, 'out/data/train-parts': parts, 'out/data/train.bin': out };
      const merge = hasPipeline('merge-tokens');
      // Without pipelines/merge-tokens.ts (not there yet): the parallel line, then the parts concatenated in order.
      const lines = block.filter((l) => merge || !l.includes('merge-tokens')).map((l) => substitute(l, subs));
      const summaries = runBlock(lines, dir, 'parallel-encode');
      if (!merge) writeFileSync(out, Buffer.concat(partsOf(parts, '.bin').map((p) => readFileSync(p))));
      const shards = summaries.map((l) => JSON.parse(l) as { pipeline: string; shard?: { index: number; count: number; source: string } })
        .filter((s) => s.pipeline === 'encode').map((s) => s.shard!);
      assert.deepEqual(shards.map((s) => s.index).sort(), [0, 1, 2]);
      for (const s of shards) assert.deepEqual([s.source, s.count], ['PARALLEL_SEQ', SHARDS]);
      assert.equal(partsOf(parts, '.bin').length, SHARDS);
      assert.ok(readFileSync(out).equals(readFileSync(refBin)), `${out} differs from the one-process token file`);
      assertMergedSidecar(out, refBin);
    });

    it("the README's parallel count line + merge-counts + train-bpe --from-counts equals train-bpe", { skip: countSkip }, () => {
      const dir = join(root, 'parallel-count');
      mkdirSync(dir);
      const outTok = join(dir, 'tok');
      const subs = {
        'out/tok': outTok, 'corpus/*.txt': corpus, 'out/counts-parts': join(dir, 'counts'),
        'out/total.counts': join(dir, 'total.counts'), '--vocab-size 32000': `--vocab-size ${VOCAB}`,
      };
      const summaries = runBlock(readmeBlock('parallel-count').map((l) => substitute(l, subs)), dir, 'parallel-count')
        .map((l) => JSON.parse(l) as { pipeline: string; shard?: { index: number; source: string } });
      const counted = summaries.filter((s) => s.pipeline === 'count-pretokens');
      assert.deepEqual(counted.map((s) => s.shard?.index).sort(), [0, 1, 2]);
      for (const s of counted) assert.equal(s.shard?.source, 'PARALLEL_SEQ');
      assertSameTokenizer(outTok, tok);
    });
  });

  describe('Slurm (sbatch --array + --dependency=afterok)', { skip: slurmSkip }, () => {
    before(() => {
      if (slurmReason) assert.fail(`CI=true and LMPIPE_SLURM=1, but Slurm is not usable: ${slurmReason}`);
      if (slurm.error) throw slurm.error;
    });

    it(`encode-array.sbatch (--array=0-${SHARDS - 1}, --shard auto) + merge-tokens.sbatch equals the one-process encode`, async () => {
      const pair = slurm.encode!;
      await finishPair(pair);
      assert.equal(partsOf(join(pair.dir, 'parts'), '.bin').length, SHARDS);
      assertShardSources(pair.dir, 'slurm-lmpipe-encode-', /^SLURM_ARRAY_TASK_ID/);
      const out = join(pair.dir, 'train.bin');
      assert.ok(readFileSync(out).equals(readFileSync(refBin)), `${out} differs from the one-process token file\n${slurmLogs(pair.dir)}`);
      assertMergedSidecar(out, refBin);
    });

    it('count-array.sbatch + train-from-counts.sbatch (merge-counts, train-bpe --from-counts) equals train-bpe', { skip: countSkip }, async () => {
      const pair = slurm.count!;
      await finishPair(pair);
      assertShardSources(pair.dir, 'slurm-lmpipe-count-', /^SLURM_ARRAY_TASK_ID/);
      assertSameTokenizer(join(pair.dir, 'tok'), tok);
    });
  });
});

it('the Kubernetes Indexed Job example asks for as many shards as completions, from JOB_COMPLETION_INDEX', () => {
  const text = readFileSync(join(EXAMPLES, 'encode-indexed-job.yaml'), 'utf8');
  assert.match(text, /^\s*completionMode: Indexed$/m);
  const completions = /^\s*completions: (\d+)$/m.exec(text)?.[1];
  assert.ok(completions, 'no completions: line');
  assert.match(text, /- --shard=auto\b/);
  assert.equal(/- --shard-count=(\d+)/.exec(text)?.[1], completions);
  assert.match(text, /command: \["npx", "tsx", "pipelines\/encode\.ts"\]/);
});
