/**
 * The rough edges a new user hit (the reliability issue): the progress
 * reporter's rate after a resume and its bars in a busy loop, the budget
 * fitter's hysteresis, one tokenizer identity from train-bpe to train,
 * encode's start-up phase and Pile estimate, and split-corpus's warnings on
 * small inputs. CLI behaviour runs the real pipelines, once per pipeline in a
 * real process (exit status, stderr, the summary line on stdout); the other
 * runs go in-process through the same argument parsing
 * (test/helpers/in-process.ts). No timing assertions (the reporter runs on a
 * fake clock).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProgressReporter, progressRate } from '../src/pipeline/progress.ts';
import { documentDraw } from '../src/stages/documents.ts';
import { trainBpe } from '../src/tokenizer/bpe-train.ts';
import { readTokenizerDir } from '../src/tokenizer/tokenizer-files.ts';
import { legacyTokenizerHash } from '../src/tokenizer/tokenizer-identity.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { BudgetFitter, significantRefit } from '../src/train/budget-fit.ts';
import { resolveTrainConfig } from '../src/train/train-config.ts';
import { encode as encodePipeline } from '../pipelines/encode.ts';
import { inspectTokenizer as inspectPipeline } from '../pipelines/inspect-tokenizer.ts';
import { splitCorpus as splitCorpusPipeline } from '../pipelines/split-corpus.ts';
import { train as trainPipeline } from '../pipelines/train.ts';
import { trainBpePipeline } from '../pipelines/train-bpe.ts';
import { runPipeline, summaryOf } from './helpers/cli.ts';
import type { CliResult } from './helpers/cli.ts';
import { runInProcess } from './helpers/in-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'lmpipe-rough-edges-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const EOT = '<|endoftext|>';
const trainBpeIn = (args: string[]): Promise<CliResult> => runInProcess(trainBpePipeline, args);
const encodeIn = (args: string[]): Promise<CliResult> => runInProcess(encodePipeline, args);

/** A small deterministic corpus of `n` documents. */
function corpus(n: number): string {
  const who = ['Tom', 'Lily', 'a little dog', 'the old cat', 'Ben'];
  const did = ['ran to the park', 'found a red ball', 'ate a big cake', 'saw a bird in the tree', 'played with friends'];
  const docs: string[] = [];
  for (let i = 0; i < n; i++) docs.push(`Once upon a time, ${who[i % 5]} ${did[(3 * i + 1) % 5]}. It was fun, and ${who[(i + 2) % 5]} was happy!`);
  return docs.join(EOT);
}

/** A fake stream that keeps what is written. */
function capture(isTTY: boolean): { stream: { write(s: string): boolean; isTTY: boolean; columns: number }; text(): string } {
  const chunks: string[] = [];
  return { stream: { write: (s: string) => { chunks.push(s); return true; }, isTTY, columns: 200 }, text: () => chunks.join('') };
}

test('progress: a resumed task counts its rate from where it started, not from 0', () => {
  let clock = 0;
  const out = capture(false);
  const reporter = new ProgressReporter('train', 'plain', { now: () => clock, stream: out.stream, intervalMs: 1e9 });
  // Resumed at step 100 of 200; one step per second in this session.
  const task = reporter.task('train', 'steps', 200, 100);
  for (let step = 101; step <= 105; step++) {
    clock += 1000;
    task.update(step);
  }
  task.stop();
  reporter.close();
  assert.match(out.text(), /train 52\.5% 105 steps \/ 200 steps \| 1 steps\/s ETA 1m35s \| 5\.0s/);
  assert.equal(progressRate(105, 100, 5), 1);
  assert.equal(progressRate(105, 0, 5), 21, 'counting from 0 would claim 21 steps/s');
});

test('progress: a task with nothing counted yet shows what it is doing, without a rate', () => {
  let clock = 0;
  const out = capture(false);
  const reporter = new ProgressReporter('encode', 'plain', { now: () => clock, stream: out.stream });
  const task = reporter.task('start', 'items');
  task.update(0, 'starting 4 worker threads (each loads the tokenizer)');
  clock += 1500;
  task.stop();
  assert.equal(out.text(), '[encode] start | 1.5s | starting 4 worker threads (each loads the tokenizer)\n');
});

test('progress: bars are drawn from the updates of a loop that never yields to the event loop', () => {
  let clock = 0;
  const out = capture(true);
  const reporter = new ProgressReporter('eval', 'tty', { now: () => clock, stream: out.stream });
  const task = reporter.task('evaluate', 'tokens', 1000);
  // Synchronous, like eval's batches: cli-progress's redraw timer cannot fire in between.
  for (let i = 1; i <= 10; i++) {
    clock += 200;
    task.update(100 * i, `loss ${(5 - i / 10).toFixed(2)}`);
    if (i === 5) assert.match(out.text(), /evaluate 50\.0% 500 tokens \/ 1000 tokens \| 500 tokens\/s/, 'the bar shows progress before the end');
  }
  task.stop();
  reporter.close();
});

test('budget fit: refits only significant changes, with hysteresis, so the length cannot flap', () => {
  // The 116 → 119 → 116 → 119: the first change clears 2% and 2 steps; going back does not clear twice that.
  assert.equal(significantRefit(116, 119, 0), true);
  assert.equal(significantRefit(119, 116, +3), false);
  assert.equal(significantRefit(119, 110, +3), true, 'a large reversal still applies');
  assert.equal(significantRefit(116, 118, 0), false, '1.7% is noise');
  assert.equal(significantRefit(40, 41, 0), false, 'one step is never worth a refit');

  // A fitter on a simulated clock whose pace alternates by ±4.4% every 6 steps (about one
  // refit window): the rule before the hysteresis went 127 → 131 → 127 → 129 → 128 → 129 ….
  const config = resolveTrainConfig({ train_data: 'a.bin', out: 'o', max_steps: 1_000_000, max_minutes: 1, fit_to_budget: true, warmup_steps: 10 });
  const fitter = BudgetFitter.plan(config, 0) as BudgetFitter;
  let c = config;
  let now = 0;
  const lengths: number[] = [];
  for (let step = 1; step <= c.max_steps && now < 60_000; step++) {
    fitter.stepStarted(step, now);
    now += step <= 10 ? 450 : Math.floor(step / 6) % 2 === 0 ? 430 : 470;
    const refit = fitter.stepDone(step, now, c, 60 - now / 1000, false);
    if (refit) {
      assert.ok(refit.message.length > 0, 'every applied change is logged');
      lengths.push(refit.maxSteps);
      c = { ...c, max_steps: refit.maxSteps, fit_to_budget: false };
    }
  }
  assert.ok(lengths.length >= 1);
  for (let k = 2; k < lengths.length; k++) assert.notEqual(lengths[k], lengths[k - 2], `no flapping: ${lengths.join(' → ')}`);
});

test('tokenizer identity: train-bpe, lmpipe.json, encode, its sidecar, inspect-tokenizer, tokenizer.json and the trained tables agree', async () => {
  const text = join(dir, 'id-corpus.txt');
  writeFileSync(text, corpus(200));
  const tok = join(dir, 'tok');
  const tb = runPipeline('train-bpe', ['--input', text, '--vocab-size', '300', '--out', tok, '--quiet']);
  assert.equal(tb.status, 0, tb.stderr);
  const hash = summaryOf(tb).tokenizer_hash as string;
  assert.match(hash, /^sha256:[0-9a-f]{64}$/);
  assert.equal(summaryOf(tb).content_hash, undefined, 'one hash, not two');
  assert.equal((JSON.parse(readFileSync(join(tok, 'lmpipe.json'), 'utf8')) as { tokenizerHash: string }).tokenizerHash, hash);

  const bin = join(dir, 'id.bin');
  const enc = await encodeIn(['--tokenizer', tok, '--input', text, '--out', bin, '--workers', '0', '--quiet']);
  assert.equal(enc.status, 0, enc.stderr);
  assert.equal(summaryOf(enc).tokenizer_hash, hash);
  assert.equal((JSON.parse(readFileSync(`${bin}.json`, 'utf8')) as { tokenizerHash: string }).tokenizerHash, hash);

  const inspect = await runInProcess(inspectPipeline, ['--tokenizer', tok, '--quiet']);
  assert.equal(inspect.status, 0, inspect.stderr);
  assert.equal(summaryOf(inspect).tokenizer_hash, hash);
  const inspectJson = await runInProcess(inspectPipeline, ['--tokenizer', join(tok, 'tokenizer.json'), '--quiet']);
  assert.equal(inspectJson.status, 0, inspectJson.stderr);
  assert.equal(summaryOf(inspectJson).tokenizer_hash, hash, 'the same vocab loaded from tokenizer.json');

  assert.equal(Tokenizer.fromTokenizerJson(join(tok, 'tokenizer.json')).hash(), hash);
  const trained = await trainBpe({ input: text, vocabSize: 300, specialTokens: [EOT] });
  assert.equal(Tokenizer.fromVocabMerges(trained.vocab, trained.merges, trained.specialTokens).hash(), hash, 'just trained, in memory');
  assert.notEqual(Tokenizer.fromDir(tok, ['<pad>']).hash(), hash, 'an extra special token is another tokenizer');
});

test('tokenizer identity: old lmpipe.json and old sidecars are still read; train rejects data from another tokenizer', async () => {
  const text = join(dir, 'old-corpus.txt');
  writeFileSync(text, corpus(120));
  const tok = join(dir, 'tok-old');
  assert.equal((await trainBpeIn(['--input', text, '--vocab-size', '290', '--out', tok, '--quiet'])).status, 0);
  const current = Tokenizer.fromDir(tok);
  const bin = join(dir, 'old.bin');
  assert.equal((await encodeIn(['-t', tok, '-i', text, '-o', bin, '--workers', '0', '--quiet'])).status, 0);

  // Rewrite both files as lmpipe wrote them before the identity.
  const metaPath = join(tok, 'lmpipe.json');
  const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as Record<string, unknown>;
  delete meta.tokenizerHash;
  meta.version = 1;
  meta.contentHash = `sha256:${createHash('sha256').update(readFileSync(join(tok, 'vocab.json'))).update(readFileSync(join(tok, 'merges.txt'))).digest('hex')}`;
  writeFileSync(metaPath, JSON.stringify(meta, null, 2));
  const tables = readTokenizerDir(tok).tables;
  const legacy = legacyTokenizerHash(tables.pool, tables.offsets, tables.merges, current.specialTokens);
  const sidecar = JSON.parse(readFileSync(`${bin}.json`, 'utf8')) as Record<string, unknown>;
  writeFileSync(`${bin}.json`, JSON.stringify({ ...sidecar, tokenizerHash: legacy }));

  assert.equal(Tokenizer.fromDir(tok).hash(), current.hash(), 'a version 1 lmpipe.json loads, with the same identity');
  assert.equal(Tokenizer.fromDir(tok).matchesHash(legacy), true, 'an old sidecar hash is recognised');

  const model = JSON.stringify({ vocab_size: 300, context_length: 8, d_model: 16, num_layers: 1, num_heads: 2 });
  const trainArgs = (out: string, tokenizer: string): string[] => ['--train-data', bin, '--tokenizer', tokenizer, '--model', model, '--max-steps', '1', '--batch-size', '2', '--backend', 'cpu', '--out', join(dir, out), '--quiet'];
  const ok = await runInProcess(trainPipeline, trainArgs('run-old', tok));
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(summaryOf(ok).tokenizer_hash, current.hash(), 'train reports the current identity of the old data');

  const other = join(dir, 'tok-other');
  assert.equal((await trainBpeIn(['--input', text, '--vocab-size', '280', '--out', other, '--quiet'])).status, 0);
  // The train CLI's refusal, in a real process.
  const bad = runPipeline('train', trainArgs('run-bad', other));
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, new RegExp(`train_data .*old\\.bin was encoded with tokenizer ${legacy}, but --tokenizer .*tok-other is sha256:[0-9a-f]{64}`));

  // Validation data from another tokenizer than the training data's.
  const trainBin = join(dir, 'mine.bin');
  const valBin = join(dir, 'theirs.bin');
  assert.equal((await encodeIn(['-t', tok, '-i', text, '-o', trainBin, '--workers', '0', '--quiet'])).status, 0);
  assert.equal((await encodeIn(['-t', other, '-i', text, '-o', valBin, '--workers', '0', '--quiet'])).status, 0);
  const mixed = await runInProcess(trainPipeline, ['--train-data', trainBin, '--val-data', valBin, '--model', model, '--max-steps', '1', '--backend', 'cpu', '--out', join(dir, 'run-mixed'), '--quiet']);
  assert.equal(mixed.status, 2);
  assert.match(mixed.stderr, /train_data .*mine\.bin and val_data .*theirs\.bin were encoded with different tokenizers/);
});

test('encode: a small input does not wait for the worker threads (the main thread encodes it while they start), and gives no Pile estimate from 12 kB', async () => {
  const text = join(dir, 'small.txt');
  writeFileSync(text, corpus(80));
  const tok = join(dir, 'tok-small');
  assert.equal((await trainBpeIn(['--input', text, '--vocab-size', '280', '--out', tok, '--quiet'])).status, 0);
  const input = corpus(200).slice(0, 12_000);
  const r = runPipeline('encode', ['-t', tok, '-i', '-', '-o', join(dir, 'small.bin'), '--workers', '1'], { input });
  assert.equal(r.status, 0, r.stderr);
  // A worker thread takes 0.3-0.5 s to start under tsx; the one unit of 12 kB is encoded long before that.
  assert.equal(summaryOf(r).units_on_main_thread, 1);
  assert.doesNotMatch(r.stderr, /worker threads? ready/);
  assert.match(r.stderr, /no pile_825gb_estimate: 12\.0 kB is too little input/);
  assert.equal(summaryOf(r).pile_825gb_estimate, null);
});

test('split-corpus: warns when --val-fraction expects less than one document, or a split comes out empty', async () => {
  // A real process reading stdin: the warning is in the summary and on stderr.
  const five = runPipeline('split-corpus', ['-i', '-', '--out-dir', join(dir, 'split5'), '--val-fraction', '0.1'], { input: corpus(5) });
  assert.equal(five.status, 0, five.stderr);
  assert.deepEqual(summaryOf(five).warnings, [
    `--val-fraction 0.1 of 5 documents expects only 0.50 in valid.txt, which got ${(summaryOf(five).valid as { documents: number }).documents}; give more documents or raise --val-fraction to at least 0.30`,
  ]);
  assert.match(five.stderr, /warning: --val-fraction 0\.1 of 5 documents expects only 0\.50/);

  // 12 documents at 0.25 expect 3 for validation; pick a seed whose draw sends none there.
  let seed = 0;
  while (Array.from({ length: 12 }, (_, i) => documentDraw(seed, i)).some((d) => d < 0.25)) seed++;
  // In-process, from files holding what the CLI would read from stdin.
  const splitIn = (name: string, docs: number, args: string[]): Promise<CliResult> => {
    const input = join(dir, `${name}.txt`);
    writeFileSync(input, corpus(docs));
    return runInProcess(splitCorpusPipeline, ['-i', input, '--out-dir', join(dir, name), ...args]);
  };
  const unlucky = await splitIn('split12', 12, ['--val-fraction', '0.25', '--seed', String(seed), '--quiet']);
  assert.equal(unlucky.status, 0, unlucky.stderr);
  assert.equal((summaryOf(unlucky).valid as { documents: number }).documents, 0);
  assert.deepEqual(summaryOf(unlucky).warnings, [`valid.txt is empty: none of the 12 documents was drawn for it (3.0 expected); try another --seed or raise --val-fraction to at least 0.13`]);

  const fine = await splitIn('split200', 200, ['--quiet']);
  assert.equal(summaryOf(fine).warnings, undefined, 'a healthy split says nothing');
  const none = await splitIn('split0', 5, ['--val-fraction', '0', '--quiet']);
  assert.equal(summaryOf(none).warnings, undefined, 'no validation set was asked for');
});
