/**
 * Test helper for the WebGPU backend: activates it on whatever adapter
 * exists, software rasterisers included (lavapipe in CI; see
 * scripts/install-webgpu-deps.sh). When the WebGPU stack is missing the
 * tests skip, except in CI (CI=true), where that is a failure.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backends/select.ts';
import { webgpuErrors } from '../src/backends/webgpu/patches.ts';
import { wgslCompileErrors } from '../src/backends/webgpu/dispatch.ts';

process.env.LMPIPE_WEBGPU_ALLOW_SOFTWARE ??= '1';

/** Activates the webgpu backend; returns a skip reason, or false when it is active. */
export async function webgpuOrSkip(): Promise<string | false> {
  try {
    await selectBackend('webgpu');
    return false;
  } catch (e) {
    const reason = `WebGPU unavailable: ${(e as Error).message}`;
    if (process.env.CI === 'true') throw new Error(`${reason} (CI=true: run scripts/install-webgpu-deps.sh and install the webgpu packages)`);
    return reason;
  }
}

export async function useWebGPU(): Promise<void> {
  await selectBackend('webgpu');
}

export async function useCpu(): Promise<void> {
  await selectBackend('cpu');
}

/** WebGPU device and WGSL compile errors so far (settles pending error reports first). */
export async function gpuErrors(): Promise<string[]> {
  if (tf.getBackend() === 'webgpu') {
    const probe = tf.scalar(0);
    await probe.data(); // a round trip lets pending error callbacks run
    probe.dispose();
  }
  await new Promise((r) => setTimeout(r, 20));
  return [...webgpuErrors(), ...wgslCompileErrors()];
}

/** Largest absolute difference. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
