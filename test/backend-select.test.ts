/**
 * Backend selection: cpu activates the replacement kernels; optional
 * backends that are not installed fail with the install command; auto falls
 * back to cpu when no native binding loads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { BACKEND_NAMES, selectBackend } from '../src/backend/select.ts';
import type { BackendName } from '../src/backend/select.ts';
import { cpuKernelsInstalled } from '../src/backend/cpu-kernels.ts';
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

test('auto: falls back to cpu (with reasons) when no native binding loads', { skip: installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu') ? 'a native binding is installed' : false }, async () => {
  const info = await selectBackend('auto');
  assert.equal(info.name, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.equal(info.skipped.length, 2);
  assert.match(info.skipped[0], /^tfjs-node-gpu: /);
});

test('an unknown backend name lists the valid ones', async () => {
  await assert.rejects(selectBackend('gpu' as BackendName), (e: unknown) => e instanceof UserError && (e as Error).message.includes(BACKEND_NAMES.join(', ')));
});
