/**
 * Backend selection: cpu activates the replacement kernels; optional
 * backends that are not installed fail with the install command; auto falls
 * back to cpu when no native binding loads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { BACKEND_NAMES } from '../src/backends/registry.ts';
import { selectBackend } from '../src/backends/select.ts';
import type { BackendName } from '../src/backends/registry.ts';
import { cpuKernelsInstalled } from '../src/backends/cpu/kernels.ts';
import { tryLoadNative } from '../src/backends/native/addon.ts';
import { UserError } from '../src/pipeline/errors.ts';

const require = createRequire(import.meta.url);
function installed(pkg: string): boolean {
  try { require.resolve(pkg); return true; } catch { return false; }
}

test('cpu: tfjs cpu backend with the replacement kernels', async () => {
  const info = await selectBackend('cpu');
  assert.deepEqual([info.name, info.tfBackend, tf.getBackend()], ['cpu', 'cpu', 'cpu']);
  assert.ok(cpuKernelsInstalled());
});

const OPTIONAL: [Exclude<BackendName, 'auto' | 'cpu'>, string][] = [
  ['tfjs-node', '@tensorflow/tfjs-node'],
  ['tfjs-node-gpu', '@tensorflow/tfjs-node-gpu'],
  ['wasm', '@tensorflow/tfjs-backend-wasm'],
];

for (const [name, pkg] of OPTIONAL) {
  test(`${name}: a missing optional package is a UserError with the install command`, { skip: installed(pkg) ? `${pkg} is installed` : false }, async () => {
    await assert.rejects(selectBackend(name), (e: unknown) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match((e as Error).message, new RegExp(`npm install ${pkg.replace(/[/@.-]/g, (c) => `\\${c}`)}@${tf.version.tfjs.replace(/\./g, '\\.')}`));
      assert.match((e as Error).message, /--backend cpu/);
      return true;
    });
  });
}

test('auto: picks native when the addon is built, else cpu, with the reasons for each skip', { skip: installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu') ? 'a tfjs-node binding is installed' : false }, async () => {
  process.env.LMPIPE_QUIET_BACKEND = '1';
  const info = await selectBackend('auto');
  const skippedNames = info.skipped.map((s) => s.split(':')[0]);
  // auto tries tfjs-node-gpu, a WebGPU adapter on a real GPU, native, tfjs-node, then cpu.
  if (tryLoadNative() !== null) {
    assert.equal(info.name, 'native');
    assert.equal(tf.getBackend(), 'native');
    assert.deepEqual(skippedNames, ['tfjs-node-gpu', 'webgpu']);
  } else {
    assert.equal(info.name, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.deepEqual(skippedNames, ['tfjs-node-gpu', 'webgpu', 'native', 'tfjs-node']);
  }
  await selectBackend('cpu');
});

test('an unknown backend name lists the valid ones', async () => {
  await assert.rejects(selectBackend('gpu' as BackendName), (e: unknown) => e instanceof UserError && (e as Error).message.includes(BACKEND_NAMES.join(', ')));
});
