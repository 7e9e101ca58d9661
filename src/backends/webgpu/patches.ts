/**
 * Fixes to @tensorflow/tfjs-backend-webgpu 4.22 found while training on it,
 * and a record of WebGPU errors:
 *
 * - AddN binds every input as a storage buffer in one shader; with more
 *   inputs than the device's maxStorageBuffersPerShaderStage (8 by default)
 *   the pipeline is invalid, and WebGPU then drops the whole command buffer
 *   it was recorded in (silently wrong results). The gradient clipping's
 *   `tf.addN` over one term per parameter hits this. The patched kernel sums
 *   in chunks that fit.
 * - Validation errors are reported asynchronously and otherwise only
 *   printed; `webgpuErrors()` lists them so tests can assert there were none.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';

interface PatchedBackend {
  device: {
    limits: Readonly<Record<string, number>>;
    addEventListener?(type: string, listener: (e: { error?: { message?: string } }) => void): void;
  };
  disposeData(dataId: object, force?: boolean): boolean;
}

const errors: string[] = [];
const watched = new WeakSet<object>();
let addNPatched = false;

/** WebGPU errors (validation, out-of-memory, internal) seen on the device so far. */
export function webgpuErrors(): readonly string[] {
  return errors;
}

/** Sums `inputs` with the original AddN kernel in chunks of at most `max` inputs. */
function chunkedAddN(orig: KernelFunc, inputs: TensorInfo[], backend: PatchedBackend, attrs: unknown, max: number): TensorInfo {
  const run = (xs: TensorInfo[]): TensorInfo => orig({ inputs: xs as unknown as tf.NamedTensorInfoMap, backend: backend as unknown as tf.KernelBackend, attrs: attrs as tf.NamedAttrMap }) as TensorInfo;
  if (inputs.length <= max) return run(inputs);
  const partials: TensorInfo[] = [];
  for (let i = 0; i < inputs.length; i += max) partials.push(run(inputs.slice(i, i + max)));
  const sum = chunkedAddN(orig, partials, backend, attrs, max);
  for (const p of partials) backend.disposeData(p.dataId);
  return sum;
}

/** Applies the patches (idempotent); call with the webgpu backend active. */
export function patchWebGPUBackend(): void {
  const backend = tf.backend() as unknown as PatchedBackend;
  if (!watched.has(backend.device)) {
    watched.add(backend.device);
    backend.device.addEventListener?.('uncapturederror', (e) => {
      errors.push(e.error?.message ?? String(e));
    });
  }
  if (addNPatched) return;
  const original = tf.getKernel('AddN', 'webgpu');
  if (!original) return;
  const orig = original.kernelFunc;
  tf.unregisterKernel('AddN', 'webgpu');
  const config: KernelConfig = {
    kernelName: 'AddN',
    backendName: 'webgpu',
    kernelFunc: (args) => {
      const b = args.backend as unknown as PatchedBackend;
      // One binding is the output; at least two inputs per chunk.
      const max = Math.max(2, (b.device.limits.maxStorageBuffersPerShaderStage ?? 8) - 1);
      return chunkedAddN(orig, args.inputs as unknown as TensorInfo[], b, args.attrs, max);
    },
  };
  tf.registerKernel(config);
  addNPatched = true;
}
