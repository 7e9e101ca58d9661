/**
 * The training side refuses what cannot work, up front, in one line: train /
 * eval / generate / sweep given absurd sizes, directories where files
 * belong, ids out of range and data or tokenizers from another tokenizer
 * each exit 2 with one line on stderr and leave no run directory. One real
 * process per pipeline checks that contract end to end (exit status, one
 * stderr line, no stack trace, empty stdout); the other refusals run the
 * pipelines in-process (test/helpers/in-process.ts), parsing the same
 * arguments and checking the same one-line messages without a process start
 * each. Also in-process: the first log line names the (default) model, its
 * parameters and estimated memory; the memory check refuses and warns
 * against a given machine; the id scan finds the first bad id across its
 * chunks. One real run checks the memory estimate against its measured peak
 * RSS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BYTE_TO_UNICODE } from '../src/tokenizer/byte-unicode.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { TokenFileWriter } from '../src/tokenizer/token-file.ts';
import { estimateMemory } from '../src/accounting/memory.ts';
import { parameterBreakdown } from '../src/accounting/parameters.ts';
import { resolveModelConfig } from '../src/model/config.ts';
import { checkMemory, modelLine } from '../src/train/preflight.ts';
import { scanTokenIds } from '../src/train/token-data.ts';
import { defaultedModelKeys, resolveTrainConfig } from '../src/train/train-config.ts';
import { tryLoadNative } from '../src/backends/native/addon.ts';
import { train as trainPipeline } from '../pipelines/train.ts';
import { evalPipeline } from '../pipelines/eval.ts';
import { generate as generatePipeline } from '../pipelines/generate.ts';
import { sweep as sweepPipeline } from '../pipelines/sweep.ts';
import { runPipeline, summaryOf } from './helpers/cli.ts';
import type { CliResult } from './helpers/cli.ts';
import { runInProcess } from './helpers/in-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'lmpipe-reliability-train-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const MODEL = { vocab_size: 64, context_length: 8, d_model: 16, num_layers: 1, num_heads: 2 };
const model = JSON.stringify(MODEL);

/** A raw uint16 token file (no sidecar) of `n` ids below 64, with `bad` ids placed at given positions. */
function rawTokens(name: string, n: number, bad: Record<number, number> = {}): string {
  const a = new Uint16Array(n);
  for (let i = 0; i < n; i++) a[i] = (i * 7) % 64;
  for (const [pos, id] of Object.entries(bad)) a[Number(pos)] = id;
  const p = join(dir, name);
  writeFileSync(p, a);
  return p;
}
const trainBin = rawTokens('train.bin', 4000);
const valBin = rawTokens('val.bin', 600);
const valBad = rawTokens('val-bad.bin', 600, { 123: 100 });
const trainBad = rawTokens('train-bad.bin', 4000, { 2500: 64 });
const aDir = join(dir, 'a-directory');
mkdirSync(aDir);
const aFile = join(dir, 'a-file.json');
writeFileSync(aFile, '{}\n');

/** Byte-level tokenizer directories: A ends documents with <|endoftext|>, B has <|pad|> there (same size, other ids). */
function byteTokenizer(name: string, specials: string[]): string {
  const d = join(dir, name);
  mkdirSync(d);
  const vocab: Record<string, number> = {};
  for (let b = 0; b < 256; b++) vocab[BYTE_TO_UNICODE[b]] = b;
  writeFileSync(join(d, 'vocab.json'), JSON.stringify(vocab));
  writeFileSync(join(d, 'merges.txt'), '');
  writeFileSync(join(d, 'lmpipe.json'), JSON.stringify({ specialTokens: specials }));
  return d;
}
const tokA = byteTokenizer('tok-a', ['<|endoftext|>']);
const tokB = byteTokenizer('tok-b', ['<|pad|>']);

/** Encodes text with a tokenizer into a token file with its sidecar. */
async function encoded(name: string, tokDir: string, docs: number): Promise<string> {
  const tok = Tokenizer.fromDir(tokDir);
  const p = join(dir, name);
  const w = new TokenFileWriter(p, { vocabSize: tok.vocabSize, tokenizerHash: tok.hash(), specialTokens: tok.specialTokens });
  const stories = ['Once upon a time there was a cat. ', 'The dog ran to the park. ', 'She liked the red ball. '];
  for (let d = 0; d < docs; d++) await w.write(tok.encode(stories[d % 3] + stories[(d + 1) % 3]).concat([256]));
  await w.close();
  return p;
}

/** Asserts a refusal: exit 2, exactly one line on stderr matching `pattern`, nothing on stdout, `absent` not created. */
function refused(r: CliResult, pattern: RegExp, absent: string | null = null): void {
  assert.equal(r.status, 2, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], /^\w+: error: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(r.stdout, '');
  if (absent !== null) assert.ok(!existsSync(absent), `${absent} must not be created`);
}

/** A real `train` process (the CLI contract), and the same arguments in-process (the message). */
const trainCli = (args: string[]): CliResult => runPipeline('train', [...args, '--backend', 'cpu']);
const train = (args: string[], env: Record<string, string> = {}): Promise<CliResult> => runInProcess(trainPipeline, [...args, '--backend', 'cpu'], { env });
const evalIn = (args: string[]): Promise<CliResult> => runInProcess(evalPipeline, args);
const generateIn = (args: string[]): Promise<CliResult> => runInProcess(generatePipeline, args);
const sweepIn = (args: string[]): Promise<CliResult> => runInProcess(sweepPipeline, args);
const out = (name: string): string => join(dir, 'runs', name);

test('train refuses absurd sizes before allocating, naming the model, the estimate and the knobs', async () => {
  const big = out('big');
  // The CLI contract, in a real process: exit 2, one stderr line, no stack trace, nothing on stdout, no run directory.
  refused(trainCli(['--train-data', trainBin, '--model', '{"vocab_size":64,"d_model":65536,"num_layers":64,"num_heads":64}', '--max-steps', '1', '--out', big]),
    /model d_model 65536, 64 layers, 64 heads, .*parameters\) needs about .* to train with AdamW at batch_size 32 .* available .*lower .*context_length, d_model, num_layers/, big);
  refused(await train(['--train-data', trainBin, '--model', model, '--batch-size', '1000000000000', '--max-steps', '1', '--out', big]),
    /at batch_size 1000000000000: its logits .* more than the 4294967296 a tensor can; lower batch_size/, big);
  const long = rawTokens('long.bin', 100_001);
  refused(await train(['--train-data', long, '--model', JSON.stringify({ ...MODEL, context_length: 100_000 }), '--batch-size', '1', '--max-steps', '1', '--out', big]),
    /context 100000 .*its attention scores \(batch·heads·context²\) would hold 2\.00e\+10 values, .*lower batch_size, context_length/, big);
  refused(await train(['--train-data', trainBin, '--model', JSON.stringify({ ...MODEL, context_length: 1_000_000_000 }), '--batch-size', '1', '--max-steps', '1', '--out', big]),
    /train_data .*train\.bin has 4000 tokens, fewer than context_length \+ 1 = 1000000001/, big);
  refused(await train(['--train-data', trainBin, '--model', JSON.stringify({ ...MODEL, vocab_size: 2 ** 40 }), '--max-steps', '1', '--out', big]),
    /"vocab_size" is 1099511627776, beyond what it can mean \(token ids are 32-bit/, big);
  refused(await train(['--train-data', trainBin, '--model', JSON.stringify({ ...MODEL, num_heads: 3 }), '--max-steps', '1', '--out', big]),
    /d_model \(16\) must be divisible by num_heads \(3\)/, big);
  // What the machine can hold comes from free RAM / the cgroup, or LMPIPE_MEMORY_MB when set.
  refused(await train(['--train-data', trainBin, '--model', JSON.stringify({ ...MODEL, vocab_size: 4096, d_model: 256, context_length: 256 }), '--max-steps', '1', '--out', big], { LMPIPE_MEMORY_MB: '250' }),
    /needs about .* but .* is available \(LMPIPE_MEMORY_MB\); (lower batch_size \(\d+ fits\)|even batch_size 1 does not fit)/, big);
});

test('train refuses ids outside the vocabulary before the first step, with the file and position', async () => {
  const o = out('ids');
  refused(await train(['--train-data', trainBin, '--val-data', valBad, '--model', model, '--max-steps', '1', '--out', o]),
    /val_data .*val-bad\.bin: token 123 has id 100, outside the model's vocab_size 64 .*the largest is 100\); set model\.vocab_size to at least 101/, o);
  refused(await train(['--train-data', trainBad, '--model', model, '--max-steps', '1', '--out', o]),
    /train_data .*train-bad\.bin: token 2500 has id 64, outside the model's vocab_size 64/, o);
  const short = rawTokens('short.bin', 5);
  refused(await train(['--train-data', trainBin, '--val-data', short, '--model', model, '--max-steps', '1', '--out', o]),
    /val_data .*short\.bin has 5 tokens, fewer than context_length \+ 1 = 9 for one window; use more data or a shorter context_length/, o);
  const withSidecar = await encoded('a-train.bin', tokA, 20);
  refused(await train(['--train-data', withSidecar, '--model', model, '--max-steps', '1', '--out', o]),
    /train_data .*a-train\.bin was encoded with a 257-id tokenizer but model\.vocab_size is 64; set model\.vocab_size to at least 257/, o);
});

test('train refuses directories where files belong, and files where directories belong', async () => {
  const o = out('paths');
  const base = ['--model', model, '--max-steps', '1'];
  refused(await train(['--train-data', aDir, ...base, '--out', o]), /train_data .*a-directory is a directory without token files \(\*\.bin\); encode into it with --shard, or give a token file/, o);
  refused(await train(['--train-data', trainBin, '--val-data', aDir, ...base, '--out', o]), /val_data .*a-directory is a directory without token files \(\*\.bin\); encode into it with --shard, or give a token file/, o);
  refused(await train(['--config', aDir]), /training config .*a-directory is a directory; give the JSON file/);
  refused(await train(['--train-data', trainBin, ...base, '--out', aFile]), /out .*a-file\.json is a file, not a directory/);
  refused(await train(['--resume', aFile]), /a-file\.json is a file, not a run directory/);
  refused(await train(['--train-data', trainBin, '--model', aDir, '--max-steps', '1', '--out', o]), /--model .*a-directory is a directory; give inline JSON or a config\.json file/, o);
  refused(await train(['--train-data', trainBin, ...base, '--tokenizer', aFile, '--out', o]), /tokenizer .*a-file\.json is a file, not a directory/, o);
});

test('eval and generate refuse data or a tokenizer other than the checkpoint\'s, bad paths and absurd batches', async () => {
  const trainA = await encoded('ta.bin', tokA, 40);
  const valA = await encoded('va.bin', tokA, 8);
  const valB = await encoded('vb.bin', tokB, 8);
  const run = out('a');
  const t = await train(['--train-data', trainA, '--val-data', valA, '--tokenizer', tokA, '--model', JSON.stringify({ ...MODEL, vocab_size: 257 }), '--batch-size', '2', '--max-steps', '2', '--quiet', '--out', run]);
  assert.equal(t.status, 0, t.stderr);

  const evalArgs = (data: string, ...more: string[]): string[] => ['--checkpoint', run, '--data', data, '--backend', 'cpu', ...more];
  const ok = await evalIn([...evalArgs(valA), '--quiet']);
  assert.equal(ok.status, 0, ok.stderr);
  // The eval CLI's contract, in a real process.
  refused(runPipeline('eval', evalArgs(valB)), /--data .*vb\.bin is from another tokenizer than the training data of .*\(257 ids, tokenizer \w+… vs 257 ids, tokenizer \w+…\); re-encode it/);
  refused(await evalIn(evalArgs(aDir)), /--data .*a-directory is a directory without token files \(\*\.bin\); encode into it with --shard, or give a token file/);
  refused(await evalIn(['--checkpoint', aFile, '--data', valA]), /checkpoint .*a-file\.json is not a directory/);
  refused(await evalIn(evalArgs(valA, '--batch-size', '1000000000000')), /at --batch-size 1000000000000: its logits .* a tensor can; lower --batch-size$/);
  const rawBad = rawTokens('raw-bad.bin', 600, { 77: 300 });
  refused(await evalIn(evalArgs(rawBad)), /--data .*raw-bad\.bin: token 77 has id 300, outside the model's vocab_size 257 .*; use data encoded with the tokenizer of checkpoint /);
  refused(await evalIn(evalArgs(rawTokens('eval-short.bin', 5))), /--data .*eval-short\.bin has 5 tokens, fewer than context_length \+ 1 = 9 for one window; use more data$/);

  const genArgs = (...more: string[]): string[] => ['--checkpoint', run, '--prompt', 'Once', '--max-tokens', '2', '--backend', 'cpu', ...more];
  // A real generate process (its text goes to stdout, the summary to stderr).
  const g = runPipeline('generate', genArgs('--quiet'));
  assert.equal(g.status, 0, g.stderr);
  refused(await generateIn(genArgs('--tokenizer', tokB)), /tokenizer .*tok-b is from another tokenizer than the training data of .*; pass the tokenizer the model was trained with/);
  refused(await generateIn(genArgs('--tokenizer', aFile)), /--tokenizer .*a-file\.json is a file, not a directory/);
  refused(await generateIn(['--checkpoint', aFile, '--tokenizer', tokA]), /checkpoint .*a-file\.json is not a directory/);

  // A resumed run's data must come from the tokenizer it was trained on.
  refused(await train(['--resume', run, '--train-data', valB, '--max-steps', '4']), /train_data .*vb\.bin is from another tokenizer than the training data of/);
});

test('sweep refuses a grid of a million runs and a run too big for the machine, creating nothing', async () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  const sweepOut = join(dir, 'sweeps', 'huge');
  const huge = join(dir, 'huge.json');
  const base = { model: MODEL, train_data: trainBin, batch_size: 2, backend: 'cpu' };
  writeFileSync(huge, JSON.stringify({ out: sweepOut, base, budget: { max_steps: 1 }, grid: { lr: values, seed: values, weight_decay: values } }));
  // The sweep CLI's contract, in a real process.
  refused(runPipeline('sweep', ['--config', huge, '--dry-run']), /expands to 1000000 runs \(100 lr × 100 seed × 100 weight_decay\), more than the 1000 a sweep may hold/, sweepOut);
  refused(await sweepIn(['--config', aDir, '--dry-run']), /sweep file .*a-directory is a directory; give the sweep's JSON file/);
  const big = join(dir, 'big.json');
  writeFileSync(big, JSON.stringify({ out: sweepOut, base, budget: { max_steps: 1 }, grid: { 'model.d_model': [16, 65536], 'model.num_heads': [2] } }));
  refused(await sweepIn(['--config', big]), /run "d_model=65536,num_heads=2": model d_model 65536, .* needs about .* available/, sweepOut);
});

test('the first line names the model, its parameters and estimated memory; defaults say so', () => {
  const raw = { train_data: 'x.bin', out: 'o', max_steps: 1 };
  const config = resolveTrainConfig(raw);
  const roomy = { total: 2 ** 40, cgroupLimit: null, available: 2 ** 40, source: 'test' };
  const m = checkMemory(config.model, { batchSize: 32, backend: 'native' }, roomy);
  const line = modelLine(config.model, m, 32, 'native', defaultedModelKeys(raw));
  assert.match(line, /^default model: d_model 512, 4 layers, 16 heads, d_ff 1344, vocab 10000, context 256 \(22\.70 M parameters, about [\d.]+ GB to train at batch_size 32 on native\); set --model to choose$/);
  const partial = { ...raw, model: { d_model: 64, num_heads: 4, num_layers: 2 } };
  const c2 = resolveTrainConfig(partial);
  assert.match(modelLine(c2.model, checkMemory(c2.model, { batchSize: 8, backend: 'cpu' }, roomy), 8, 'cpu', defaultedModelKeys(partial)),
    /^model: d_model 64, 2 layers, 4 heads, .*; vocab_size, context_length from the defaults$/);
  const gpu = checkMemory(config.model, { batchSize: 32, backend: 'webgpu' }, { ...roomy, available: 1 });
  assert.match(modelLine(config.model, gpu, 32, 'webgpu', []), /on webgpu; GPU memory is not checked\)$/);
});

test('checkMemory: refuses over the available memory with the largest batch that fits, warns when close', () => {
  const config = resolveModelConfig({ vocab_size: 10000, context_length: 256, d_model: 512, num_layers: 4, num_heads: 16, d_ff: 1344 });
  const est = estimateMemory(config, parameterBreakdown(config).total, { batchSize: 32, ops: 'fused' });
  const machine = (available: number): { total: number; cgroupLimit: number; available: number; source: string } => ({ total: 2 ** 40, cgroupLimit: available, available, source: 'cgroup limit' });
  assert.throws(() => checkMemory(config, { batchSize: 32, backend: 'native' }, machine(est.total / 2)),
    /needs about 4\.\d GB to train with AdamW at batch_size 32 on backend native \(weights, gradients and AdamW moments 363\.1 MB, activations [\d.]+ GB\), but [\d.]+ GB is available \(cgroup limit\); lower batch_size \(\d+ fits\), or context_length/);
  const close = checkMemory(config, { batchSize: 32, backend: 'native' }, machine(est.total * 1.1));
  assert.match(close.warning ?? '', /close to the [\d.]+ GB available \(cgroup limit\); the run may swap or be killed/);
  assert.equal(checkMemory(config, { batchSize: 32, backend: 'native' }, machine(est.total * 2)).warning, null);
});

test('scanTokenIds finds the first out-of-range id across chunk boundaries and the largest id', () => {
  const n = 3 * (1 << 21) + 5; // three 4 MB chunks and a bit
  const at = 1 << 21; // the first id of the second chunk
  const p = rawTokens('big.bin', n, { [at]: 5000, [n - 1]: 9000 });
  assert.deepEqual(scanTokenIds(p, 'uint16', 1000), { firstBad: at, firstBadId: 5000, maxId: 9000 });
  assert.deepEqual(scanTokenIds(p, 'uint16', 10000), { firstBad: -1, firstBadId: 0, maxId: 9000 });
});

test('the memory estimate is within a factor 2 of the measured peak RSS of a real run', () => {
  const backend = tryLoadNative() ? 'native' : 'cpu';
  const cfg = { vocab_size: 4096, context_length: 128, d_model: 128, num_layers: 2, num_heads: 4 };
  const ids = new Uint16Array(50000);
  for (let i = 0; i < ids.length; i++) ids[i] = (i * 2654435761) % 4096;
  const data = join(dir, 'calib.bin');
  writeFileSync(data, ids);
  const r = runPipeline('train', ['--train-data', data, '--model', JSON.stringify(cfg), '--batch-size', '16', '--max-steps', '2', '--backend', backend, '--quiet', '--out', out('calib')]);
  assert.equal(r.status, 0, r.stderr);
  const measured = Number(summaryOf(r).peak_rss_mb) * 2 ** 20;
  const model = resolveModelConfig(cfg);
  const estimate = estimateMemory(model, parameterBreakdown(model).total, { batchSize: 16, ops: backend === 'native' ? 'fused' : 'plain' }).total;
  const ratio = estimate / measured;
  assert.ok(ratio > 0.5 && ratio < 2, `estimate ${(estimate / 2 ** 20).toFixed(0)} MiB vs measured ${(measured / 2 ** 20).toFixed(0)} MiB (ratio ${ratio.toFixed(2)}) on ${backend}`);
});
