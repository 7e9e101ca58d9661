/**
 * The `webgpu` backend choice: loads Dawn and tfjs's WebGPU backend
 * (`webgpu-setup.ts`), activates it, fixes it where needed
 * (`webgpu-patches.ts`) and installs the fused WGSL primitives of
 * `src/webgpu/` in the model's ops table (unless LMPIPE_WEBGPU_FUSED=0,
 * which keeps tfjs's generic kernels for comparison).
 *
 * On this backend tensor data must be read asynchronously (`await
 * t.data()`): `dataSync()`/`arraySync()` of GPU-resident data throw in Node.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../pipeline/errors.ts';
import { DEFAULT_OPS, ops, overrideOps } from '../model/ops.ts';
import type { ModelOps } from '../model/ops.ts';
import { WEBGPU_OPS, installWebGPUOps } from '../webgpu/fused-ops.ts';
import { patchWebGPUBackend } from './webgpu-patches.ts';
import { describeAdapter, gpuDeviceLikelyPresent, setupWebGPU, vulkanLoaderLikelyPresent } from './webgpu-setup.ts';
import type { WebGPUSetup, WebGPUSetupOptions } from './webgpu-setup.ts';

export interface WebGPUActivation extends WebGPUSetup {
  /** Whether the fused WGSL primitives were installed. */
  fused: boolean;
  /** Puts the plain primitives back in the ops table. */
  restoreOps: () => void;
}

/** The ops-table entries the fused primitives replace, with their plain versions. */
function plainVersions(): Partial<ModelOps> {
  const out: Partial<ModelOps> = {};
  for (const key of Object.keys(WEBGPU_OPS) as (keyof ModelOps)[]) (out as Record<string, unknown>)[key] = DEFAULT_OPS[key];
  return out;
}

function fusedInstalled(): boolean {
  return (Object.keys(WEBGPU_OPS) as (keyof ModelOps)[]).every((k) => ops[k] === WEBGPU_OPS[k]);
}

/**
 * Activates tfjs's `webgpu` backend on an acceptable adapter (see
 * `setupWebGPU` for the software-adapter policy) and installs the fused ops
 * (again, if another backend's ops replaced them meanwhile).
 */
export async function activateWebGPU(options: WebGPUSetupOptions & { fused?: boolean } = {}): Promise<WebGPUActivation> {
  const setup = await setupWebGPU(options);
  let ok = false;
  try {
    ok = await tf.setBackend('webgpu');
  } catch (e) {
    throw new UserError(`backend "webgpu" failed to initialize on ${describeAdapter(setup.adapter)} (${(e as Error).message.split('\n')[0]}); use --backend cpu`);
  }
  if (!ok) throw new UserError(`backend "webgpu" did not initialize on ${describeAdapter(setup.adapter)}; use --backend cpu`);
  await tf.ready();
  patchWebGPUBackend();
  const fused = options.fused ?? process.env.LMPIPE_WEBGPU_FUSED !== '0';
  if (fused && !fusedInstalled()) installWebGPUOps();
  if (!fused && fusedInstalled()) overrideOps(plainVersions());
  return { ...setup, fused, restoreOps: () => { overrideOps(plainVersions()); } };
}

/**
 * For `auto`: the webgpu backend if a real GPU adapter is present (software
 * rasterisers are never chosen automatically). Throws with the reason to skip.
 */
export async function activateWebGPUIfGpu(): Promise<WebGPUActivation> {
  if (!vulkanLoaderLikelyPresent()) throw new Error('no Vulkan loader (libvulkan.so.1) found');
  if (!gpuDeviceLikelyPresent()) throw new Error('no GPU device node (/dev/dri/renderD*, /dev/nvidia*) found');
  return activateWebGPU({ allowSoftware: false });
}
