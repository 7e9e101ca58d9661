/**
 * Model checkpoints: save/load round trip (atomic directory replace), the
 * numpy-written tiny checkpoint with its float64 numpy logits, files we
 * write read back by an independent numpy reader, and clear errors for
 * missing / mis-shaped / unexpected tensors and bad configs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/backends/select.ts';
import { encodeSafetensors, readSafetensors } from '../src/io/safetensors.ts';
import type { TensorToWrite } from '../src/io/safetensors.ts';
import { CONFIG_FILE, WEIGHTS_FILE, loadCheckpoint, readCheckpoint, saveCheckpoint } from '../src/model/checkpoint.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { REPO_ROOT } from '../src/util/shared-data.ts';
import { allclose } from './model-fixtures.ts';
import { idsTensor, modelFrom, randomIds, tinyConfig } from './model-helpers.ts';

await selectBackend('cpu');

const FIXTURES = join(REPO_ROOT, 'fixtures', 'safetensors');
const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'lmpipe-ckpt-'));
}

test('save → load round trip: same config, bit-identical parameters and logits; re-saving replaces atomically', async () => {
  const root = tempDir();
  try {
    const config = tinyConfig({ position: 'learned', ffn: 'gelu', tie_embeddings: true });
    const { model } = modelFrom(config, 4);
    const dir = join(root, 'ckpt');
    await saveCheckpoint(dir, model);
    assert.deepEqual(readdirSync(dir).sort(), [CONFIG_FILE, WEIGHTS_FILE]);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, CONFIG_FILE), 'utf8')), config);
    const loaded = loadCheckpoint(dir);
    assert.deepEqual(loaded.config, config);
    const a = await model.exportParameters();
    const b = await loaded.exportParameters();
    assert.deepEqual([...b.keys()], [...a.keys()]);
    for (const [k, v] of a) assert.deepEqual(b.get(k)!.data, v.data, k);
    const ids = idsTensor(randomIds(2, config.context_length, config.vocab_size, 5));
    assert.deepEqual(await loaded.forward(ids).data(), await model.forward(ids).data());
    // Overwrite with a different model: the directory now holds the new one, and no temporaries remain.
    const other = modelFrom(config, 99).model;
    await saveCheckpoint(dir, other);
    const c = readCheckpoint(dir).values;
    assert.deepEqual(c.get('token_embeddings.weight')!.data, (await other.exportParameters()).get('token_embeddings.weight')!.data);
    assert.deepEqual(readdirSync(root), ['ckpt']);
    for (const m of [model, loaded, other]) m.dispose();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('loads the numpy-written RoPE/SwiGLU checkpoint and reproduces its float64 numpy logits', async () => {
  const model = loadCheckpoint(join(FIXTURES, 'tiny_model'));
  const expected = JSON.parse(readFileSync(join(FIXTURES, 'tiny_model.expected.json'), 'utf8')) as { ids: number[][]; shape: number[]; logits: number[] };
  const logits = model.forward(idsTensor(expected.ids));
  assert.deepEqual(logits.shape, expected.shape);
  const err = allclose(await logits.data(), expected.logits, 1e-4, 1e-4);
  assert.equal(err, null, err ?? '');
  model.dispose();
});

test('an independent numpy reader reads the checkpoint we write', { skip: hasNumpy ? false : 'python3 with numpy not available' }, async () => {
  const root = tempDir();
  try {
    const config = tinyConfig();
    const { model } = modelFrom(config, 6);
    await saveCheckpoint(join(root, 'c'), model);
    const out = execFileSync('python3', [join(FIXTURES, 'read_safetensors.py'), join(root, 'c', WEIGHTS_FILE)], { encoding: 'utf8' });
    const parsed = JSON.parse(out) as { __metadata__: Record<string, string>; header_bytes: number; tensors: Record<string, { dtype: string; shape: number[]; values: number[] }> };
    assert.equal((8 + parsed.header_bytes) % 8, 0);
    assert.equal(parsed.__metadata__.format, 'pt');
    const params = await model.exportParameters();
    assert.deepEqual(Object.keys(parsed.tensors).sort(), [...params.keys()].sort());
    for (const [name, p] of params) {
      assert.equal(parsed.tensors[name].dtype, 'F32');
      assert.deepEqual(parsed.tensors[name].shape, p.shape);
      assert.deepEqual(parsed.tensors[name].values, Array.from(p.data), name);
    }
    model.dispose();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('clear errors: missing, mis-shaped, unexpected or integer tensors; missing or invalid config', () => {
  const root = tempDir();
  try {
    const base = join(FIXTURES, 'tiny_model');
    const variant = (name: string, edit: (t: Map<string, TensorToWrite>) => void, config?: unknown): string => {
      const dir = join(root, name);
      cpSync(base, dir, { recursive: true });
      const tensors = new Map<string, TensorToWrite>();
      for (const [k, v] of readSafetensors(join(base, WEIGHTS_FILE)).tensors) tensors.set(k, { dtype: 'F32', shape: v.shape, data: v.data as Float32Array });
      edit(tensors);
      writeFileSync(join(dir, WEIGHTS_FILE), encodeSafetensors(tensors));
      if (config !== undefined) writeFileSync(join(dir, CONFIG_FILE), typeof config === 'string' ? config : JSON.stringify(config));
      return dir;
    };
    const expectUserError = (dir: string, re: RegExp): void => {
      assert.throws(() => loadCheckpoint(dir), (e: unknown) => {
        assert.ok(e instanceof UserError, String(e));
        assert.match((e as Error).message, re);
        return true;
      });
    };
    expectUserError(variant('missing', (t) => { t.delete('layers.1.ffn.w3.weight'); }),
      /model\.safetensors: missing tensor "layers\.1\.ffn\.w3\.weight" \(expected shape \[16, 8\]\)/);
    expectUserError(variant('shape', (t) => { t.set('layers.0.attn.q_proj.weight', { dtype: 'F32', shape: [4, 16], data: new Float32Array(64) }); }),
      /tensor "layers\.0\.attn\.q_proj\.weight" has shape \[4, 16\], expected \[8, 8\]/);
    expectUserError(variant('extra', (t) => { t.set('layers.2.ln1.weight', { dtype: 'F32', shape: [8], data: new Float32Array(8) }); }),
      /unexpected tensor "layers\.2\.ln1\.weight"/);
    expectUserError(variant('int', (t) => { t.set('ln_final.weight', { dtype: 'I32', shape: [8], data: new Int32Array(8) }); }),
      /"ln_final\.weight" is I32; parameters must be floating point/);
    // A gelu config against SwiGLU weights: the w3 tensors are unexpected.
    const cfg = JSON.parse(readFileSync(join(base, CONFIG_FILE), 'utf8')) as Record<string, unknown>;
    expectUserError(variant('arch', () => {}, { ...cfg, ffn: 'gelu' }), /unexpected tensor "layers\.0\.ffn\.w3\.weight" and 1 more/);
    expectUserError(variant('badkey', () => {}, { ...cfg, num_layer: 2 }), /config\.json: unknown model config key "num_layer" \(did you mean "num_layers"\?\)/);
    expectUserError(variant('badjson', () => {}, '{"vocab_size": '), /config\.json: not valid JSON/);
    const noConfig = variant('noconfig', () => {});
    rmSync(join(noConfig, CONFIG_FILE));
    expectUserError(noConfig, /has no config\.json/);
    expectUserError(join(root, 'nope'), /is not a directory/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
