/**
 * The train, generate and plot CLIs end to end on a byte-level tokenizer and
 * a tiny model: config file + flag overrides, the JSON summary, --resume,
 * unknown-key errors naming the nearest key, greedy generation equal to an
 * in-process full-forward argmax decode, and plotting runs given as plain
 * arguments.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { BYTE_TO_UNICODE } from '../src/tokenizer/byte-unicode.ts';
import { selectBackend } from '../src/backends/select.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { readMetrics } from '../src/train/metrics.ts';
import { argmax } from '../src/train/sampling.ts';
import { node22, runPipeline, summaryOf } from './helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'lmpipe-train-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const EOT = 256;

// Byte-level tokenizer: id b = byte b, <|endoftext|> = 256, no merges.
const tokDir = join(dir, 'tok');
mkdirSync(tokDir);
const vocab: Record<string, number> = {};
for (let b = 0; b < 256; b++) vocab[BYTE_TO_UNICODE[b]] = b;
writeFileSync(join(tokDir, 'vocab.json'), JSON.stringify(vocab));
writeFileSync(join(tokDir, 'merges.txt'), '');
writeFileSync(join(tokDir, 'lmpipe.json'), JSON.stringify({ special_tokens: ['<|endoftext|>'] }));

function tokens(name: string, docs: number): string {
  const stories = ['Once upon a time there was a cat. ', 'The dog ran to the park. ', 'She liked the red ball. '];
  const ids: number[] = [];
  for (let d = 0; d < docs; d++) {
    for (const ch of Buffer.from(stories[d % 3] + stories[(d + 1) % 3])) ids.push(ch);
    ids.push(EOT);
  }
  const buf = Buffer.alloc(2 * ids.length);
  ids.forEach((id, i) => buf.writeUInt16LE(id, 2 * i));
  const p = join(dir, name);
  writeFileSync(p, buf);
  return p;
}
const trainPath = tokens('train.bin', 60);
const valPath = tokens('val.bin', 10);
const out = join(dir, 'run');
const cfgPath = join(dir, 'cfg.json');
writeFileSync(cfgPath, JSON.stringify({
  model: { vocab_size: 257, context_length: 16, d_model: 32, num_layers: 1, num_heads: 2 },
  train_data: trainPath, val_data: valPath, tokenizer: tokDir,
  batch_size: 4, max_steps: 6, lr: 1e-3, warmup_steps: 1, eval_interval: 3, eval_batches: 1, checkpoint_interval: 4, out,
}));

test('train: config + flag override, summary, metrics, then --resume to more steps', () => {
  const r = runPipeline('train', ['--config', cfgPath, '--lr', '3e-3', '--backend', 'cpu', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const s = summaryOf(r);
  assert.equal(s.pipeline, 'train');
  assert.equal(s.step, 6);
  assert.equal(s.stopped, 'completed');
  assert.equal(typeof s.val_loss, 'number');
  const m = readMetrics(join(out, 'metrics.jsonl'));
  assert.equal(m.length, 6);
  assert.ok(Math.abs(m[1].lr - 3e-3) < 1e-12, 'the --lr flag overrides the config file');
  for (const f of ['config.json', 'model.safetensors', 'optimizer.safetensors', 'state.json', 'train-config.json', 'best/model.safetensors']) {
    assert.ok(existsSync(join(out, f)), f);
  }
  const again = runPipeline('train', ['--resume', out, '--max-steps', '8', '--backend', 'cpu', '--quiet']);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(summaryOf(again).step, 8);
  assert.equal(summaryOf(again).resumed_from, 6);
  assert.equal(readMetrics(join(out, 'metrics.jsonl')).length, 8);
  const fresh = runPipeline('train', ['--config', cfgPath, '--quiet']);
  assert.equal(fresh.status, 2);
  assert.match(fresh.stderr, /already holds a run \(checkpoint at step 8\)/);
});

test('train: unknown config keys name the nearest valid key; missing run length is explained', () => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ train_data: trainPath, batchsize: 4, max_steps: 2, out: join(dir, 'x') }));
  const r = runPipeline('train', ['--config', bad, '--quiet']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown key "batchsize" \(did you mean "batch_size"\?\)/);
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one-line error');
  const noLen = runPipeline('train', ['--train-data', trainPath, '--out', join(dir, 'y'), '--quiet']);
  assert.equal(noLen.status, 2);
  assert.match(noLen.stderr, /"max_steps" \(optimizer steps\) or "max_tokens"/);
});

test('generate: greedy output equals an in-process full-forward argmax decode', async () => {
  const r = runPipeline('generate', ['--checkpoint', out, '--prompt', 'Once', '--max-tokens', '10', '--temperature', '0', '--backend', 'cpu', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stderr.trim().split('\n').pop()!);
  assert.equal(summary.tokenizer, tokDir, 'the tokenizer recorded by train is used');
  await selectBackend('cpu');
  const model = loadCheckpoint(out);
  const ids = [...Buffer.from('Once')];
  const generated: number[] = [];
  for (let i = 0; i < 10; i++) {
    const x = tf.tensor2d([ids], [1, ids.length], 'int32');
    const logits = model.forward(x);
    const all = await logits.data();
    tf.dispose([x, logits]);
    const next = argmax(all.subarray((ids.length - 1) * 257, ids.length * 257));
    if (next === EOT) break;
    ids.push(next);
    generated.push(next);
  }
  model.dispose();
  assert.equal(summary.tokens, generated.length);
  assert.equal(r.stdout, `${Buffer.from(generated).toString('utf8')}\n`);
});

test('plot: runs as plain arguments → PNG and SVG naming both runs', () => {
  const png = join(dir, 'curves.png');
  const r = runPipeline('plot', [out, '--run', out, '--name', 'first', '--name', 'second', '--out', png, '--quiet']);
  if (r.status === 2 && /not installed/.test(r.stderr) && process.env.CI !== 'true') return; // plotting packages absent
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(summaryOf(r).runs, [{ name: 'first', steps: 8, last_step: 8 }, { name: 'second', steps: 8, last_step: 8 }]);
  assert.deepEqual([...readFileSync(png).subarray(1, 4)], [...Buffer.from('PNG')]);
  const svg = readFileSync(join(dir, 'curves.svg'), 'utf8');
  assert.ok(svg.includes('first') && svg.includes('second'));
});

test('train, generate and plot load under plain Node >= 22.18 type stripping', { skip: node22() ? false : 'Node 22 not installed (.ci/run installs it)' }, () => {
  for (const name of ['train', 'generate', 'plot']) {
    const r = runPipeline(name, ['--help'], { node: node22()! });
    assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^${name}: `));
  }
});

test('train --precision: bf16 on the native backend says so in its first line and summary; bf16 on the cpu backend is a one-line error', async () => {
  const bad = runPipeline('train', ['--config', cfgPath, '--backend', 'cpu', '--precision', 'bf16', '--out', join(dir, 'bf16-cpu'), '--quiet']);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr.trim(), /^train: error: --precision bf16: the cpu backend has no bf16 matmuls .*use --backend native, or --precision fp32$/);
  assert.ok(!existsSync(join(dir, 'bf16-cpu', 'state.json')), 'nothing trained');
  const { tryLoadNative } = await import('../src/backends/native/addon.ts');
  if (!tryLoadNative()) return; // no native addon: the bf16 path is covered by test/native-bf16.test.ts where it exists
  const { bf16Support } = await import('../src/backends/native/precision.ts');
  const support = bf16Support();
  const r = runPipeline('train', ['--config', cfgPath, '--backend', 'native', '--precision', 'auto', '--max-steps', '2', '--out', join(dir, 'auto')]);
  assert.equal(r.status, 0, r.stderr);
  const p = summaryOf(r).precision as { setting: string; precision: string; onednn?: { isa: string } };
  const expected = support.available && support.hardwareBf16 ? 'bf16' : 'fp32';
  assert.equal(p.setting, 'auto');
  assert.equal(p.precision, expected, `auto on this CPU (${support.isa ?? support.reason})`);
  const first = r.stderr.split('\n').find((l) => l.startsWith('[train] model:')) ?? '';
  assert.match(first, expected === 'bf16' ? /matmuls bf16 with fp32 accumulation \(oneDNN [\d.]+, \w+/ : /fp32/);
});
