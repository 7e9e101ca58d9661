/**
 * The PyTorch bridge: lmpipe checkpoints load in PyTorch
 * (scripts/torch/load_lmpipe.py) and give lmpipe's logits. A tiny model is
 * trained for a few steps with pipelines/train.ts; the script's logits on
 * full-context windows must equal lmpipe's forward pass within 1e-4, for the
 * trained CS336 model and for every architecture switch; a checkpoint the
 * script writes back (`--save`) loads in lmpipe with the same parameters.
 *
 * Needs a Python with torch (Debian: apt-get install python3-torch, for
 * /usr/bin/python3; or LMPIPE_TORCH_PYTHON=/path/to/python): skipped
 * without one, failed when CI=true (.ci/run installs it).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/backends/select.ts';
import { loadCheckpoint, readCheckpoint, saveCheckpoint } from '../src/model/checkpoint.ts';
import type { ModelConfig } from '../src/model/config.ts';
import type { TransformerLM } from '../src/model/model.ts';
import { REPO_ROOT } from '../src/util/shared-data.ts';
import { runPipeline, summaryOf } from './helpers/cli.ts';
import { idsTensor, modelFrom, randomIds, tinyConfig } from './model-helpers.ts';

const SCRIPT = join(REPO_ROOT, 'scripts', 'torch', 'load_lmpipe.py');
const TOLERANCE = 1e-4;

/** The first Python that imports torch: LMPIPE_TORCH_PYTHON, Debian's /usr/bin/python3, then python3 on PATH. */
function torchPython(): { python: string; version: string } | null {
  const candidates = [process.env.LMPIPE_TORCH_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => !!p);
  for (const python of candidates) {
    // find_spec, not import: importing torch takes seconds.
    const probe = 'import importlib.util, importlib.metadata as m, sys\nif not importlib.util.find_spec("torch"): sys.exit(1)\ntry: print(m.version("torch"))\nexcept Exception: print("?")';
    const r = spawnSync(python, ['-c', probe], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return { python, version: r.stdout.trim() };
  }
  return null;
}

const torch = torchPython();
if (!torch && process.env.CI === 'true') throw new Error('no Python with torch (CI=true: .ci/run installs python3-torch for /usr/bin/python3)');
const skip = torch ? false : 'no Python with torch: apt-get install python3-torch (or set LMPIPE_TORCH_PYTHON)';
if (skip) process.stderr.write(`note: pytorch-bridge.test.ts skipped: ${skip}\n`);

interface TorchResult {
  checkpoint: string;
  shape: number[];
  logits: number[];
}

/** Runs the script on checkpoint directories with the same ids; one result per directory. */
function torchLogits(dirs: string[], ids: number[][], extra: string[] = []): TorchResult[] {
  const r = spawnSync(torch!.python, [SCRIPT, ...dirs, '--ids', JSON.stringify(ids), ...extra], {
    encoding: 'utf8', timeout: 120_000, maxBuffer: 256 << 20, env: { ...process.env, OMP_NUM_THREADS: '1' },
  });
  assert.equal(r.status, 0, `${SCRIPT} failed:\n${r.stderr}`);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as TorchResult);
}

/** Largest |a - b|, after checking the lengths. */
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function assertSameLogits(model: TransformerLM, ids: number[][], got: TorchResult, what: string): Promise<void> {
  const logits = model.forward(idsTensor(ids));
  assert.deepEqual(got.shape, logits.shape, what);
  const want = await logits.data();
  logits.dispose();
  const diff = maxAbsDiff(got.logits, want);
  assert.ok(diff <= TOLERANCE, `${what}: PyTorch logits differ from lmpipe's by up to ${diff} (tolerance ${TOLERANCE})`);
}

describe('PyTorch bridge (scripts/torch/load_lmpipe.py)', { skip }, () => {
  let root = '';
  /** The token file and the run directory of the first test, for the DDP test. */
  let data = '';
  let run = '';

  before(async () => {
    await selectBackend('cpu');
    root = mkdtempSync(join(tmpdir(), 'lmpipe-torch-bridge-'));
  });
  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it(`a model trained by pipelines/train.ts gives the same logits in PyTorch (${torch?.version ?? 'no torch'}); --save writes a checkpoint lmpipe loads back`, async () => {
    // Token data: 4,000 ids of a repeating pattern with noise (uint16, nanoGPT's train.bin layout).
    const vocab = 97;
    const ids = new Uint16Array(4000);
    for (let i = 0; i < ids.length; i++) ids[i] = (i * 7 + (i % 13 === 0 ? 5 : 0)) % vocab;
    data = join(root, 'train.bin');
    writeFileSync(data, ids);
    run = join(root, 'run');
    const r = runPipeline('train', [
      '--train-data', data, '--vocab-size', String(vocab), '--context-length', '16', '--d-model', '32', '--num-layers', '2',
      '--num-heads', '4', '--batch-size', '4', '--max-steps', '5', '--lr', '3e-3', '--warmup-steps', '1',
      '--backend', 'cpu', '--out', run, '--quiet',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(summaryOf(r).ok, true);
    const model = loadCheckpoint(run);
    const windows = randomIds(3, model.config.context_length, vocab, 11);
    const copy = join(root, 'from-torch');
    const [got] = torchLogits([run], windows, ['--save', copy]);
    await assertSameLogits(model, windows, got, 'trained model');
    // PyTorch → lmpipe: the checkpoint the script wrote has the same config and parameters, bit for bit.
    const a = readCheckpoint(run);
    const b = readCheckpoint(copy);
    assert.deepEqual(b.config, a.config);
    assert.deepEqual([...b.values.keys()].sort(), [...a.values.keys()].sort());
    for (const [k, v] of a.values) assert.deepEqual(b.values.get(k)!.data, v.data, k);
    model.dispose();
  });

  it('every architecture switch (position, ffn, norm, parallel, tied embeddings) gives the same logits', async () => {
    const variants: Array<Partial<ModelConfig>> = [
      {},
      { position: 'learned', ffn: 'gelu', tie_embeddings: true },
      { position: 'none', ffn: 'silu', norm: 'post' },
      { norm: 'none', d_ff: 40 },
      { parallel: true },
      { parallel: true, norm: 'post', ffn: 'gelu' },
      { parallel: true, norm: 'none', position: 'learned' },
    ];
    const models: Array<{ dir: string; model: TransformerLM; what: string }> = [];
    for (const [i, v] of variants.entries()) {
      const config = tinyConfig(v);
      const { model } = modelFrom(config, 100 + i);
      const dir = join(root, `variant-${i}`);
      await saveCheckpoint(dir, model);
      models.push({ dir, model, what: JSON.stringify(v) });
    }
    const cfg = models[0].model.config;
    const windows = randomIds(2, cfg.context_length, cfg.vocab_size, 7);
    const results = torchLogits(models.map((m) => m.dir), windows);
    assert.equal(results.length, models.length);
    for (const [i, m] of models.entries()) {
      assert.equal(results[i].checkpoint, m.dir);
      await assertSameLogits(m.model, windows, results[i], m.what);
      m.model.dispose();
    }
  });

  it('torchrun DDP (2 processes, gloo) trains the lmpipe checkpoint on the lmpipe token file; lmpipe loads the result', async () => {
    assert.ok(run, 'needs the first test\'s run');
    const out = join(root, 'run-ddp');
    // torchrun = python -m torch.distributed.run. `--redirects 1 --tee 1`: Debian's torch 1.13 on Python 3.11
    // fails on the default `--redirects 0` (AttributeError: 'NoneType' object has no attribute 'get'); with
    // them, each rank's stdout also goes to the console, prefixed "[default<rank>]:".
    const r = spawnSync(torch!.python, ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
      '--monitor_interval', '0.5', '--redirects', '1', '--tee', '1', '--log_dir', join(root, 'torchrun-logs'),
      join(REPO_ROOT, 'scripts', 'torch', 'train_ddp.py'), '--init', run, '--data', data, '--out', out,
      '--steps', '3', '--batch-size', '4', '--lr', '3e-3'], {
      encoding: 'utf8', timeout: 180_000, env: { ...process.env, OMP_NUM_THREADS: '1' },
    });
    assert.equal(r.status, 0, `torchrun train_ddp.py failed:\n${r.stderr.slice(-4000)}`);
    const lines = r.stdout.trim().split('\n').map((l) => l.replace(/^\[\w+\]:/, '')).filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const steps = lines.filter((l) => 'step' in l);
    assert.deepEqual(steps.map((l) => l.step), [1, 2, 3]);
    for (const l of steps) assert.ok(Number.isFinite(l.loss) && (l.loss as number) > 0, JSON.stringify(l));
    assert.deepEqual(lines.at(-1), { ok: true, out, world_size: 2, steps: 3, backend: 'gloo' });
    // The result is an lmpipe checkpoint: same config, trained (changed) weights, finite logits.
    const before = readCheckpoint(run);
    const after = readCheckpoint(out);
    assert.deepEqual(after.config, before.config);
    const name = 'layers.0.attn.q_proj.weight';
    assert.ok(maxAbsDiff(after.values.get(name)!.data, before.values.get(name)!.data) > 0, `${name} did not change`);
    const model = loadCheckpoint(out);
    const logits = model.forward(idsTensor(randomIds(1, model.config.context_length, model.config.vocab_size, 3)));
    assert.ok((await logits.data()).every(Number.isFinite));
    logits.dispose();
    model.dispose();
  });
});
