/**
 * Output safety, with real files:
 * - outputs that would destroy inputs are refused up front, through a
 *   symlink or a hard link too, and a directory that is not a previous
 *   output of the same kind needs --force (which keeps its files); one real
 *   process checks the CLI's refusal (exit 2, one stderr line, empty
 *   stdout), the other cases run the pipelines in-process
 *   (test/helpers/in-process.ts) with the same arguments and messages;
 * - temporaries, with real processes: SIGINT/SIGTERM in the middle of
 *   filling a directory removes it; what a kill -9 leaves is removed by the
 *   next run, while a live process's temporary (and another host's) is kept;
 * - a full disk (a 2 MB tmpfs, when mounting is permitted) is one error
 *   line naming the file and the space from a real process, with the
 *   previous result (written in-process) intact;
 * - a training run killed (kill -9, a real process) before its first
 *   checkpoint can be re-run or resumed from step 0.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/util/shared-data.ts';
import { Rng } from '../src/util/rng.ts';
import { ownerTag, removeStaleTemporaries } from '../src/util/temporaries.ts';
import { encode as encodePipeline } from '../pipelines/encode.ts';
import { plot as plotPipeline } from '../pipelines/plot.ts';
import { splitCorpus as splitCorpusPipeline } from '../pipelines/split-corpus.ts';
import { train as trainPipeline } from '../pipelines/train.ts';
import { trainBpePipeline } from '../pipelines/train-bpe.ts';
import { runPipeline, summaryOf } from './helpers/cli.ts';
import type { CliResult } from './helpers/cli.ts';
import { runInProcess } from './helpers/in-process.ts';

/** Slow fills started and not yet seen to exit: killed when the tests end, whatever happened. */
const slowFills = new Set<ChildProcess>();
after(() => {
  for (const child of slowFills) {
    if (child.exitCode === null && child.signalCode === null) {
      try { process.kill(-(child.pid as number), 'SIGKILL'); } catch { /* gone */ }
    }
  }
});

const dir = mkdtempSync(join(tmpdir(), 'lmpipe-reliability-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic text of made-up words in documents separated by <|endoftext|>. */
function corpus(bytes: number, seed: number): string {
  const rng = new Rng(seed);
  const syllables = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'be', 'do', 'fu', 'gi', 'ha', 'ja', 'ko', 'pe', 'qu', 'ze', 'xi', 'wu', 'an', 'el', 'or', 'th', 'st'];
  let out = '';
  while (out.length < bytes) {
    const words: string[] = [];
    const n = 20 + rng.intBelow(60);
    for (let i = 0; i < n; i++) {
      let w = '';
      for (let k = 1 + rng.intBelow(3); k >= 0; k--) w += syllables[rng.intBelow(syllables.length)];
      words.push(w);
    }
    out += `${words.join(' ')}.<|endoftext|>`;
  }
  return out;
}

/** name -> sha256 of every file under `root` (recursive, hidden entries included). */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p, r);
      else out[r] = st.isSymbolicLink() ? 'symlink' : createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(root, '');
  return out;
}

/** Hidden lmpipe temporaries directly in `d`. */
function temporaries(d: string): string[] {
  return readdirSync(d).filter((n) => /^\..+\.(tmp|old)-\d+-/.test(n));
}

/** Exit 2 with exactly one stderr line matching `pattern`. */
function refused(r: CliResult, pattern: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], pattern);
  assert.equal(r.stdout, '');
}

const TRAIN_BPE = ['--vocab-size', '300', '--workers', '0', '--quiet'];
/** train-bpe in a real process (the CLI contract), and the same arguments in-process. */
const trainBpeCli = (args: string[]): CliResult => runPipeline('train-bpe', [...TRAIN_BPE, ...args]);
const trainBpe = (args: string[]): Promise<CliResult> => runInProcess(trainBpePipeline, [...TRAIN_BPE, ...args]);
const encode = (args: string[]): Promise<CliResult> => runInProcess(encodePipeline, args);
const splitCorpus = (args: string[]): Promise<CliResult> => runInProcess(splitCorpusPipeline, args);
const train = (args: string[]): Promise<CliResult> => runInProcess(trainPipeline, args);

describe('outputs that would destroy inputs are refused before anything is read', () => {
  const d = join(dir, 'inputs');
  const text = join(d, 'in.txt');
  before(async () => {
    mkdirSync(d);
    writeFileSync(text, corpus(60_000, 1));
    const tok = await trainBpe(['-i', text, '-o', join(dir, 'tok')]);
    assert.equal(tok.status, 0, tok.stderr);
  });

  it('train-bpe -o DIR holding the input: refused, DIR untouched', () => {
    writeFileSync(join(d, 'notes.md'), 'keep me');
    const before = snapshot(d);
    // The CLI contract, in a real process.
    refused(trainBpeCli(['-i', text, '-o', d]), /^train-bpe: error: --out .*inputs contains the --input .*in\.txt; .*choose another --out that does not contain it \(e\.g\. .*inputs\/tokenizer\)$/);
    assert.deepEqual(snapshot(d), before);
    assert.deepEqual(temporaries(dir), []);
  });

  it('encode -o the input, directly, through a symlink and through a hard link: refused, the text intact', async () => {
    const before = readFileSync(text);
    const link = join(d, 'link.txt');
    const hard = join(d, 'hard.txt');
    symlinkSync('in.txt', link);
    linkSync(text, hard);
    const encodeTo = (out: string, input = text): Promise<CliResult> => encode(['-t', join(dir, 'tok'), '-i', input, '-o', out, '--workers', '0', '--quiet']);
    refused(await encodeTo(text), /^encode: error: --out .*in\.txt is the --input .*in\.txt; writing the token file there would destroy it: choose another --out$/);
    refused(await encodeTo(link), /--out .*link\.txt is the --input .*in\.txt \(the same file through a symlink\)/);
    refused(await encodeTo(text, link), /--out .*in\.txt is the --input .*link\.txt \(the same file through a symlink\)/);
    refused(await encodeTo(hard), /--out .*hard\.txt is the --input .*in\.txt \(a hard link to it\)/);
    // The sidecar is an output too, and the tokenizer's files are inputs.
    refused(await encodeTo(join(dir, 'tok', 'vocab.json')), /is the --tokenizer file .*vocab\.json/);
    assert.deepEqual(readFileSync(text), before);
    assert.ok(lstatSync(link).isSymbolicLink());
    rmSync(link);
    rmSync(hard);
  });

  it('split-corpus --out-dir D with the input D/train.txt: refused, the input intact', async () => {
    const sd = join(dir, 'split');
    mkdirSync(sd);
    writeFileSync(join(sd, 'train.txt'), corpus(5000, 2));
    const before = snapshot(sd);
    refused(await splitCorpus(['-i', join(sd, 'train.txt'), '--out-dir', sd, '--quiet']),
      /^split-corpus: error: --out-dir .*split: its train\.txt is the --input .*split\/train\.txt; .*choose another --out-dir$/);
    assert.deepEqual(snapshot(sd), before);
    // Beside the input (not over it) is fine.
    const ok = await splitCorpus(['-i', join(sd, 'train.txt'), '--out-dir', join(sd, 'parts'), '--quiet']);
    assert.equal(ok.status, 0, ok.stderr);
  });

  it('train-bpe into a directory that is not a tokenizer: refused; --force writes and keeps its files; a previous tokenizer is replaced', async () => {
    const other = join(dir, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'mine');
    refused(await trainBpe(['-i', text, '-o', other]),
      /^train-bpe: error: --out .*other exists and is not a previous tokenizer directory \(it holds notes\.txt\); choose a new or empty directory, or add --force to write it anyway \(its other files are kept\)$/);
    assert.deepEqual(readdirSync(other), ['notes.txt']);
    const forced = await trainBpe(['-i', text, '-o', other, '--force']);
    assert.equal(forced.status, 0, forced.stderr);
    assert.deepEqual(readdirSync(other).sort(), ['lmpipe.json', 'merges.txt', 'notes.txt', 'tokenizer.json', 'vocab.json']);
    assert.equal(readFileSync(join(other, 'notes.txt'), 'utf8'), 'mine');
    // --force never lifts the input rule.
    refused(await trainBpe(['-i', text, '-o', d, '--force']), /contains the --input/);
    // A previous tokenizer directory is replaced without --force.
    const again = await trainBpe(['-i', text, '-o', join(dir, 'tok'), '--vocab-size', '280']);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(summaryOf(again).vocab_size, 280);
  });

  it('encode over a file that is not a token file needs --force; over a previous token file it does not', async () => {
    const notes = join(dir, 'notes.bin');
    writeFileSync(notes, 'precious');
    const args = ['-t', join(dir, 'tok'), '-i', text, '--workers', '0', '--quiet'];
    refused(await encode([...args, '-o', notes]), /^encode: error: --out .*notes\.bin exists and is not a previous token file \(it has no notes\.bin\.json sidecar\); .*add --force/);
    assert.equal(readFileSync(notes, 'utf8'), 'precious');
    assert.equal((await encode([...args, '-o', notes, '--force'])).status, 0);
    assert.equal((await encode([...args, '-o', notes])).status, 0, 'now it is a token file');
    refused(await encode([...args, '-o', join(dir, 'tok')]), /--out .*tok is a directory; give a file name for the token file/);
  });

  it('plot --out naming its own input is refused', async () => {
    const metrics = join(dir, 'curves.png');
    writeFileSync(metrics, `${JSON.stringify({ step: 1, tokens: 8, lr: 1, loss: 2, grad_norm: 1, tokens_per_s: 1, elapsed_s: 1 })}\n`);
    refused(await runInProcess(plotPipeline, [metrics, '--out', metrics, '--quiet']), /^plot: error: --out .*curves\.png is the run .*curves\.png/);
  });
});

/**
 * Spawns test/helpers/slow-fill.ts writing `out`, in its own process group
 * (the pipeline may run in a child of the process spawned, see
 * src/pipeline/interrupt.ts); resolves once it is paused mid-fill, with its
 * temporary directory and the pid of the process writing it. It stays
 * paused until a test signals it (a day at most), however slow the machine.
 */
function startSlowFill(out: string, bytes = 1000): Promise<{ child: ChildProcess; tmp: string; writer: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'helpers', 'slow-fill.ts'), '--out', out, '--bytes', String(bytes), '--wait-ms', String(24 * 3600 * 1000), '--quiet'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  slowFills.add(child);
  child.once('exit', () => slowFills.delete(child));
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      err += s;
      const m = /filling (\S+)\n/.exec(err);
      if (m) resolve({ child, tmp: m[1], writer: Number(/\.tmp-(\d+)-/.exec(m[1])?.[1]) });
    });
    child.on('exit', (code) => reject(new Error(`slow-fill exited early (${code}): ${err}`)));
  });
}

/** Starts several slow fills at once (one start-up's wait instead of one each); on a failure, kills those started. */
async function startSlowFills(outs: { out: string; bytes?: number }[]): Promise<{ child: ChildProcess; tmp: string; writer: number }[]> {
  const started = await Promise.allSettled(outs.map((o) => startSlowFill(o.out, o.bytes)));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed === undefined) return started.map((r) => (r as PromiseFulfilledResult<{ child: ChildProcess; tmp: string; writer: number }>).value);
  for (const r of started) if (r.status === 'fulfilled') process.kill(-(r.value.child.pid as number), 'SIGKILL');
  throw (failed as PromiseRejectedResult).reason;
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

describe('temporaries', () => {
  it('SIGINT or SIGTERM while a directory is being filled removes the temporary; the previous output stays', async () => {
    // SIGINT as Ctrl-C sends it (to the whole process group), SIGTERM as a scheduler does (to the process started).
    const cases = [['SIGINT', 130], ['SIGTERM', 143]] as const;
    // One writer per signal, started together, each in a directory of its own.
    const ds = cases.map(([signal]) => join(dir, 'signals', signal));
    for (const d of ds) {
      mkdirSync(join(d, 'out'), { recursive: true });
      writeFileSync(join(d, 'out', 'data.bin'), 'previous');
    }
    const fills = await startSlowFills(ds.map((d) => ({ out: join(d, 'out') })));
    for (const [k, [signal, code]] of cases.entries()) {
      const d = ds[k];
      const out = join(d, 'out');
      const { child, tmp } = fills[k];
      assert.ok(existsSync(tmp));
      if (signal === 'SIGINT') process.kill(-(child.pid as number), signal);
      else child.kill(signal);
      const end = await exited(child);
      assert.equal(end.code, code, `${signal}: exit ${end.code} / ${end.signal}`);
      assert.equal(existsSync(tmp), false, `${signal}: temporary removed`);
      assert.deepEqual(temporaries(d), []);
      assert.equal(readFileSync(join(out, 'data.bin'), 'utf8'), 'previous');
    }
  });

  it("kill -9 leaves a temporary that the next run removes (logging it); a live process's temporary is kept", async () => {
    const d = join(dir, 'stale');
    mkdirSync(d);
    writeFileSync(join(d, 'in.txt'), corpus(20_000, 3));
    // Two writers, started together: one killed outright mid-fill (its 1 MB temporary stays
    // behind), one still running (its temporary must survive the cleanup).
    const [dead, live] = await startSlowFills([{ out: join(d, 'dead'), bytes: 1_000_000 }, { out: join(d, 'live') }]);
    process.kill(-(dead.child.pid as number), 'SIGKILL');
    await exited(dead.child);
    assert.ok(existsSync(dead.tmp), 'kill -9 leaves the temporary');
    const livePid = live.writer;
    // The live pid, but recorded with another start time: the pid was reused, the owner is dead.
    const [host, boot] = ownerTag(livePid).split('.');
    const reused = join(d, `.reused.tmp-${livePid}-${Date.now().toString(36)}-1-${host}.${boot}.zzzz`);
    mkdirSync(reused);
    // Written on another host: cannot be checked, so it is kept.
    const elsewhere = join(d, `.remote.tmp-${livePid}-${Date.now().toString(36)}-1-ffffff.${boot}.zzzz`);
    writeFileSync(elsewhere, '');
    try {
      const r = runPipeline('train-bpe', ['-i', join(d, 'in.txt'), '-o', join(d, 'tok'), '--vocab-size', '270', '--workers', '0']);
      assert.equal(r.status, 0, r.stderr);
      const line = r.stderr.split('\n').find((l) => l.includes('stale'));
      assert.match(line ?? '', /removed 2 stale temporaries left by killed runs \(1\.0 MB\): .*\.dead\.tmp-.*\.reused\.tmp-|removed 2 stale temporaries left by killed runs \(1\.0 MB\): .*\.reused\.tmp-.*\.dead\.tmp-/, r.stderr);
      assert.equal(existsSync(dead.tmp), false, 'stale temporary removed');
      assert.equal(existsSync(reused), false, 'reused pid: removed');
      assert.ok(existsSync(live.tmp), "the live writer's temporary is kept");
      assert.ok(existsSync(elsewhere), "another host's temporary is kept");
    } finally {
      live.child.kill('SIGTERM');
      await exited(live.child);
    }
    assert.equal(existsSync(live.tmp), false, 'the live writer removed its own on SIGTERM');
  });

  it('a directory moved aside by a process killed between two renames is restored, not deleted', () => {
    const d = join(dir, 'old');
    mkdirSync(d);
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid as number;
    const [host, boot] = ownerTag().split('.');
    const old = join(d, `.tok.old-${deadPid}-${Date.now().toString(36)}-3-${host}.${boot}.zz`);
    mkdirSync(old);
    writeFileSync(join(old, 'vocab.json'), '{}');
    const half = join(d, `.tok.tmp-${deadPid}-${Date.now().toString(36)}-2-${host}.${boot}.zz`);
    mkdirSync(half);
    const legacy = join(d, `.x.bin.tmp-${deadPid}-lx3k2a-1`); // a name from before owners were recorded
    writeFileSync(legacy, Buffer.alloc(10));
    const r = removeStaleTemporaries(d);
    assert.deepEqual(r.restored, [join(d, 'tok')]);
    assert.deepEqual(r.removed.sort(), [half, legacy].sort());
    assert.equal(r.bytes, 10);
    assert.equal(readFileSync(join(d, 'tok', 'vocab.json'), 'utf8'), '{}');
    assert.deepEqual(readdirSync(d), ['tok']);
  });
});

describe('a full disk: one line, the previous result intact, no temporary left', () => {
  const mnt = join(dir, 'full');
  let skip: string | false = false;
  before(() => {
    mkdirSync(mnt);
    if (process.platform !== 'linux') { skip = 'needs Linux (tmpfs)'; return; }
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { encoding: 'utf8' });
    if (m.status !== 0) skip = `cannot mount a 2 MB tmpfs to fill (${(m.stderr || m.error?.message || 'mount failed').trim()}); run the tests as root to cover a full disk`;
  });
  after(() => { if (!skip) spawnSync('umount', [mnt]); });

  /** Fills the tmpfs so that about `leave` bytes stay free. */
  const fill = (leave: number): void => {
    const s = statfsSync(mnt);
    writeFileSync(join(mnt, 'filler'), Buffer.alloc(Math.max(0, s.bavail * s.bsize - leave)));
  };
  const unfill = (): void => rmSync(join(mnt, 'filler'), { force: true });
  const src = join(dir, 'full-src.txt');
  const bigSrc = join(dir, 'full-big.txt');

  it('train-bpe', async (t) => {
    if (skip) { t.skip(skip); return; }
    writeFileSync(src, corpus(30_000, 4));
    writeFileSync(bigSrc, corpus(400_000, 5));
    const out = join(mnt, 'tok');
    assert.equal((await trainBpe(['-i', src, '-o', out])).status, 0);
    const before = snapshot(out);
    fill(8192);
    try {
      const r = runPipeline('train-bpe', ['-i', bigSrc, '-o', out, '--vocab-size', '1500', '--workers', '0', '--quiet']);
      refused(r, /^train-bpe: error: cannot write .*full\/tok\/\S+ at byte \d+: no space left on device \(needs \d+(\.\d)? kB for .*full\/tok, \d+(\.\d)? kB free on its file system\); the previous .*full\/tok is intact; free some space or write the output elsewhere$/);
      assert.deepEqual(snapshot(out), before);
      assert.deepEqual(temporaries(mnt), []);
    } finally {
      unfill();
    }
  });

  it('encode (a token file streamed through a temporary)', async (t) => {
    if (skip) { t.skip(skip); return; }
    const out = join(mnt, 'ids.bin');
    const args = ['-t', join(dir, 'tok'), '--workers', '0', '--quiet', '-o', out];
    assert.equal((await encode([...args, '-i', src])).status, 0);
    const before = [readFileSync(out), readFileSync(`${out}.json`, 'utf8')];
    fill(16384);
    try {
      refused(runPipeline('encode', [...args, '-i', bigSrc]), /^encode: error: cannot write .*ids\.bin at byte \d+: no space left on device \(needs more than .*, .* free on its file system\); the previous .*ids\.bin is intact; /);
      assert.deepEqual([readFileSync(out), readFileSync(`${out}.json`, 'utf8')], before);
      assert.deepEqual(temporaries(mnt), []);
    } finally {
      unfill();
    }
  });

  it('split-corpus', async (t) => {
    if (skip) { t.skip(skip); return; }
    const out = join(mnt, 'split');
    assert.equal((await splitCorpus(['-i', src, '--out-dir', out, '--quiet'])).status, 0);
    const before = snapshot(out);
    fill(16384);
    try {
      refused(runPipeline('split-corpus', ['-i', bigSrc, '--out-dir', out, '--quiet']), /^split-corpus: error: cannot write .*split\/(train|valid)\.txt at byte \d+: no space left on device .*is intact/);
      assert.deepEqual(snapshot(out), before);
      assert.deepEqual(temporaries(out), []);
    } finally {
      unfill();
    }
  });

  it('train (a checkpoint)', async (t) => {
    if (skip) { t.skip(skip); return; }
    const data = join(dir, 'full-train.bin');
    writeTokens(data);
    const out = join(mnt, 'run');
    const first = await train([...trainArgs(data, out), '--max-steps', '4', '--stop-at-step', '2', '--checkpoint-interval', '100', '--quiet']);
    assert.equal(first.status, 0, first.stderr);
    const before = snapshot(out);
    fill(4096);
    try {
      const r = runPipeline('train', ['--resume', out, '--quiet']);
      refused(r, /^train: error: cannot write .*full\/run\/(model|optimizer)\.safetensors at byte \d+: no space left on device \(needs .* for .*full\/run, .* free on its file system\); the previous .*full\/run is intact/);
      assert.equal(JSON.parse(readFileSync(join(out, 'state.json'), 'utf8')).step, 2, 'the step-2 checkpoint is intact');
      assert.deepEqual(Object.keys(snapshot(out)), Object.keys(before));
      assert.deepEqual(temporaries(mnt), []);
    } finally {
      unfill();
    }
  });
});

/** A learnable little uint16 token file (vocabulary 32), no sidecar. */
function writeTokens(path: string): void {
  const rng = new Rng(1);
  const buf = Buffer.alloc(2 * 3000);
  for (let i = 0; i < 3000; i++) buf.writeUInt16LE(rng.uniform() < 0.2 ? rng.intBelow(32) : (i * 7) % 32, 2 * i);
  writeFileSync(path, buf);
}

function trainArgs(data: string, out: string): string[] {
  return ['--train-data', data, '--model', '{"vocab_size":32,"context_length":8,"d_model":16,"num_layers":1,"num_heads":2}', '--batch-size', '4', '--warmup-steps', '1', '--backend', 'cpu', '--out', out];
}

describe('a training run killed before its first checkpoint', () => {
  const data = join(dir, 'train.bin');
  before(() => writeTokens(data));
  // One run killed (kill -9) early, once; the cases that need one get a copy of what it left.
  const killed = join(dir, 'run-killed');
  let killing: Promise<void> | null = null;
  const killedRun = (): Promise<void> => (killing ??= killedEarly(killed, 2));

  /** Starts a long run without checkpoints and kill -9s it once it has logged `steps` steps. */
  async function killedEarly(out: string, steps: number): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'pipelines', 'train.ts'), ...trainArgs(data, out), '--max-steps', '100000', '--checkpoint-interval', '100000', '--quiet'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let err = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => { err += s; });
    const metrics = join(out, 'metrics.jsonl');
    const logged = (): boolean => existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > steps;
    // Waits for the steps by polling the file (no deadline: a run that ends instead fails at once).
    while (!logged()) {
      if (child.exitCode !== null || child.signalCode !== null) assert.fail(`train exited (${child.exitCode ?? child.signalCode}) before logging ${steps} steps: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    process.kill(-(child.pid as number), 'SIGKILL'); // the whole group: no process left to checkpoint
    await exited(child);
    // Until no process of the group is left (kill(-pgid, 0) fails with ESRCH then).
    for (;;) {
      try { process.kill(-(child.pid as number), 0); } catch { break; }
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(existsSync(join(out, 'state.json')), false, 'no checkpoint yet');
    assert.ok(existsSync(join(out, 'train-config.json')));
  }

  it('is started afresh by the same command, saying so', async () => {
    const out = join(dir, 'run-again');
    await killedRun();
    cpSync(killed, out, { recursive: true });
    const r = await train([...trainArgs(data, out), '--max-steps', '3']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /run-again holds a run that stopped before its first checkpoint \(.*metrics\.jsonl.*; \d+ steps logged, none checkpointed\); starting it afresh/);
    assert.deepEqual(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step), [1, 2, 3]);
    assert.equal(summaryOf(r).resumed_from, null);
  });

  it('--resume starts it from step 0 with its stored config, saying so', async () => {
    const out = join(dir, 'run-resume');
    await killedRun();
    cpSync(killed, out, { recursive: true });
    const r = await train(['--resume', out, '--max-steps', '3']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /--resume .*run-resume: the run stopped before its first checkpoint \(.*\); starting it from step 0 with its stored config/);
    const s = summaryOf(r);
    assert.equal(s.step, 3);
    assert.equal(s.resumed_from, 0);
    assert.equal(JSON.parse(readFileSync(join(out, 'state.json'), 'utf8')).step, 3);
  });

  it('a directory of other files is still refused, and the run directory may not hold its data', async () => {
    const other = join(dir, 'not-a-run');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'x');
    refused(await train([...trainArgs(data, other), '--max-steps', '2', '--quiet']), /^train: error: .*not-a-run exists and is not empty \(it holds notes\.txt, not a run of train\); choose a new --out directory for the run$/);
    refused(await train(['--resume', other, '--quiet']), /train-config\.json/);
    refused(await train([...trainArgs(data, dir), '--max-steps', '2', '--quiet']), /^train: error: --out .* contains the train_data .*train\.bin; /);
  });
});
