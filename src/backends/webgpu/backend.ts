/**
 * The `webgpu` backend: loads Dawn and tfjs's WebGPU backend (setup.ts),
 * activates it, fixes it where needed (patches.ts), and hands the model the
 * fused WGSL primitives of fused-ops.ts and the one-pass AdamW of adamw.ts.
 *
 * `auto` takes it only on a real GPU: Dawn is not even started unless a
 * Vulkan loader and a GPU device node exist (on a CPU-only machine it would
 * only find a software rasteriser and print driver warnings), and a software
 * adapter is refused even with LMPIPE_WEBGPU_ALLOW_SOFTWARE=1. By name
 * (`--backend webgpu`) a software adapter is accepted with that variable.
 *
 * On this backend tensor data must be read asynchronously (`await
 * t.data()`): `dataSync()`/`arraySync()` of GPU-resident data throw in Node.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../pipeline/errors.ts';
import { AVAILABLE, unavailable } from '../interface.ts';
import type { Backend, BackendFacts, ProbeOptions, ProbeResult } from '../interface.ts';
import { adamwUpdate } from './adamw.ts';
import { WEBGPU_OPS } from './fused-ops.ts';
import { patchWebGPUBackend } from './patches.ts';
import { describeAdapter, gpuDeviceLikelyPresent, setupWebGPU, vulkanLoaderLikelyPresent } from './setup.ts';
import type { WebGPUSetup } from './setup.ts';

/** The adapter of the last successful probe. */
let setup: WebGPUSetup | null = null;

/** Why `auto` must not start Dawn here, or null when a hardware adapter may exist. */
function autoSkipReason(): string | null {
  if (!vulkanLoaderLikelyPresent()) return 'no Vulkan loader (libvulkan.so.1) found';
  if (!gpuDeviceLikelyPresent()) return 'no GPU device node (/dev/dri/renderD*, /dev/nvidia*) found';
  return null;
}

async function probe({ auto }: ProbeOptions): Promise<ProbeResult> {
  setup = null;
  const skip = auto ? autoSkipReason() : null;
  if (skip !== null) return unavailable(skip);
  try {
    setup = await setupWebGPU(auto ? { allowSoftware: false } : {});
    return AVAILABLE;
  } catch (e) {
    if (e instanceof UserError) return unavailable(e.message);
    throw e;
  }
}

export const webgpuBackend: Backend<'webgpu'> = {
  name: 'webgpu',
  auto: true,
  probe,
  async activate() {
    if (!setup) throw new Error('backend "webgpu": activate() needs a successful probe() first');
    let ok = false;
    try {
      ok = await tf.setBackend('webgpu');
    } catch (e) {
      throw new UserError(`backend "webgpu" failed to initialize on ${describeAdapter(setup.adapter)} (${(e as Error).message.split('\n')[0]}); use --backend cpu`);
    }
    if (!ok) throw new UserError(`backend "webgpu" did not initialize on ${describeAdapter(setup.adapter)}; use --backend cpu`);
    await tf.ready();
    patchWebGPUBackend();
    return { ops: WEBGPU_OPS, adamwUpdate };
  },
  info(): BackendFacts {
    if (!setup) return {};
    return { adapter: describeAdapter(setup.adapter), software: setup.software, featureLevel: setup.featureLevel, dawnFlags: setup.flags.join(',') };
  },
};
