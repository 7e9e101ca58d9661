/**
 * pipelines/eval.ts: the loss over consecutive windows of a token file
 * equals the float64 reference on the numpy-written checkpoint; uint16 and
 * uint32 files, any batch size, the dropped tail; clear errors; the CLI's
 * one-line JSON summary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evalPipeline } from '../pipelines/eval.ts';
import { readCheckpoint } from '../src/model/checkpoint.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { REPO_ROOT } from '../src/util/shared-data.ts';
import { Rng } from '../src/util/rng.ts';
import { itemBytes, typedArrayFor } from '../src/tokenizer/token-dtype.ts';
import type { TokenDtype } from '../src/tokenizer/token-dtype.ts';
import { toRef } from './model-helpers.ts';
import { crossEntropy64, lm64 } from './model-reference.ts';

const CKPT = join(REPO_ROOT, 'fixtures', 'safetensors', 'tiny_model');
const { config, values } = readCheckpoint(CKPT);
const ref = toRef(values);
const T = config.context_length; // 8

function tokens(n: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => rng.intBelow(config.vocab_size));
}

/** Reference mean CE over consecutive windows of T+1 (tail dropped). */
function referenceLoss(ids: number[]): { loss: number; tokens: number } {
  const windows = Math.floor(ids.length / (T + 1));
  let sum = 0;
  for (let w = 0; w < windows; w++) {
    const win = ids.slice(w * (T + 1), (w + 1) * (T + 1));
    sum += crossEntropy64(lm64(config, ref, [win.slice(0, T)]), win.slice(1), config.vocab_size) * T;
  }
  return { loss: sum / (windows * T), tokens: windows * T };
}

/** A token file of `ids`: uint16 without a sidecar (null), else with a sidecar naming `dtype`. */
function writeTokens(dir: string, name: string, ids: number[], dtype: TokenDtype | null): string {
  const path = join(dir, name);
  const arr = typedArrayFor(dtype ?? 'uint16').from(ids);
  writeFileSync(path, new Uint8Array(arr.buffer));
  if (dtype) writeFileSync(`${path}.json`, JSON.stringify({ format: 'lmpipe-tokens', version: 1, dtype, itemBytes: itemBytes(dtype), tokens: ids.length }));
  return path;
}

const quiet = { log: () => {}, warn: () => {} };

test('eval loss equals the float64 reference over consecutive windows (uint16/uint32, any batch size, tail dropped)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-eval-'));
  try {
    const ids = tokens(5 * (T + 1) + 4, 1); // 5 windows and a 4-token tail
    const want = referenceLoss(ids);
    assert.equal(want.tokens, 40);
    for (const [dtype, batchSize] of [[null, 2], ['uint16', 5], ['uint32', 3], ['uint32', 1]] as const) {
      const data = writeTokens(dir, `t-${dtype}-${batchSize}.bin`, ids, dtype);
      const r = await evalPipeline.run({ checkpoint: CKPT, data, batchSize, backend: 'cpu', precision: 'fp32' }, quiet);
      assert.equal(r.tokens, want.tokens);
      assert.equal(r.windows, 5);
      assert.ok(Math.abs(r.loss - want.loss) < 1e-5, `${dtype}/${batchSize}: ${r.loss} vs ${want.loss}`);
      assert.ok(Math.abs(r.perplexity - Math.exp(want.loss)) < 1e-4 * Math.exp(want.loss));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('eval errors: too few tokens, ids outside the vocabulary, missing checkpoint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-eval-'));
  try {
    const run = (data: string, checkpoint = CKPT): Promise<unknown> => evalPipeline.run({ checkpoint, data, batchSize: 4, backend: 'cpu', precision: 'fp32' }, quiet);
    await assert.rejects(run(writeTokens(dir, 'short.bin', tokens(T, 2), null)), (e: unknown) => e instanceof UserError && /fewer than context_length \+ 1 = 9/.test((e as Error).message));
    const ids = tokens(2 * (T + 1), 3);
    ids[T + 1 + 3] = 40; // window 1, position 3 of the file's second window
    await assert.rejects(run(writeTokens(dir, 'oov.bin', ids, null)), (e: unknown) => e instanceof UserError && /token 12 has id 40, outside the model's vocab_size 13/.test((e as Error).message));
    await assert.rejects(run(writeTokens(dir, 'ok.bin', tokens(9, 4), null), join(dir, 'nope')), UserError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the CLI prints one JSON summary line with loss, perplexity and tokens', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-eval-'));
  try {
    const ids = tokens(3 * (T + 1), 5);
    const data = writeTokens(dir, 'cli.bin', ids, null);
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'pipelines', 'eval.ts'), '--checkpoint', CKPT, '--data', data, '--backend', 'cpu', '--quiet'], { encoding: 'utf8', cwd: REPO_ROOT });
    const lines = out.trim().split('\n');
    assert.equal(lines.length, 1);
    const summary = JSON.parse(lines[0]) as { loss: number; perplexity: number; tokens: number; ok: boolean };
    assert.equal(summary.ok, true);
    assert.equal(summary.tokens, 3 * T);
    assert.ok(Math.abs(summary.loss - referenceLoss(ids).loss) < 1e-5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
