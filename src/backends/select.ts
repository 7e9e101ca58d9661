/**
 * Chooses the TensorFlow.js backend. `auto` tries, in order:
 * 1. `tfjs-node-gpu` (CUDA libtensorflow; optional package, dynamic import),
 * 2. `webgpu` (Dawn + tfjs's WebGPU backend + fused WGSL ops, `./webgpu.ts`),
 *    on a real GPU only,
 * 3. `native` (lmpipe's C++/OpenBLAS kernels, `src/native/`), warning once
 *    in one line when the addon is not built,
 * 4. `tfjs-node` (CPU libtensorflow; optional package),
 * 5. the pure-JS `cpu` backend with the replacement kernels of `cpu-kernels.ts`.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../pipeline/errors.ts';
import { installCpuKernels } from './cpu-kernels.ts';
import { activateWebGPU, activateWebGPUIfGpu } from './webgpu.ts';
import { NativeUnavailableError } from '../native/addon.ts';
import { NATIVE_BACKEND, registerNativeBackend } from '../native/backend.ts';
import { adamwUpdate as nativeAdamWUpdate, installNativeOps } from '../native/fused.ts';
import { adamwUpdate as webgpuAdamWUpdate } from '../webgpu/adamw.ts';
import { plainAdamWUpdate, setAdamWUpdate } from '../train/adamw.ts';

export type BackendName = 'auto' | 'tfjs-node-gpu' | 'tfjs-node' | 'native' | 'cpu' | 'wasm' | 'webgpu';

export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'tfjs-node-gpu', 'tfjs-node', 'native', 'cpu', 'wasm', 'webgpu'];

/** What `selectBackend` ended up with. */
export interface BackendInfo {
  /** The backend chosen (never 'auto'). */
  name: Exclude<BackendName, 'auto'>;
  /** tfjs's own name of the active backend ('cpu', 'tensorflow', 'wasm'). */
  tfBackend: string;
  /** Why the preferred backends were skipped under 'auto'. */
  skipped: string[];
}

const PACKAGES = {
  'tfjs-node-gpu': '@tensorflow/tfjs-node-gpu',
  'tfjs-node': '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
} as const;

/** The npm command that installs an optional backend (same version as tfjs). */
export function installHint(name: keyof typeof PACKAGES): string {
  return `npm install ${PACKAGES[name]}@${tf.version.tfjs}`;
}

function isModuleNotFound(e: unknown, pkg: string): boolean {
  const err = e as NodeJS.ErrnoException;
  return (err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND') && String(err.message).includes(pkg);
}

/**
 * Loads an optional backend package. Throws a UserError naming the install
 * command when it is missing, or the load failure (e.g. missing CUDA
 * libraries) when it is installed but broken.
 */
async function loadOptional(name: keyof typeof PACKAGES): Promise<void> {
  const pkg: string = PACKAGES[name];
  try {
    await import(pkg);
  } catch (e) {
    if (isModuleNotFound(e, pkg)) {
      throw new UserError(`backend "${name}" needs the optional package ${pkg}, which is not installed; run \`${installHint(name)}\` or use --backend cpu`);
    }
    throw new UserError(`backend "${name}": ${pkg} is installed but failed to load (${(e as Error).message.split('\n')[0]}); fix the installation or use --backend cpu`);
  }
}

async function activate(tfName: string, label: string): Promise<void> {
  const ok = await tf.setBackend(tfName);
  if (!ok) throw new UserError(`backend "${label}" did not initialize; use --backend cpu`);
  await tf.ready();
}

/** Activates the pure-JS backend with the fast replacement kernels. */
async function useCpu(): Promise<void> {
  await activate('cpu', 'cpu');
  installCpuKernels();
  setAdamWUpdate(plainAdamWUpdate);
  // Skip tfjs's one-time "install tfjs-node" console banner: choosing cpu is deliberate here.
  const b = tf.backend() as unknown as { firstUse?: boolean };
  if (b.firstUse !== undefined) b.firstUse = false;
}

/** Activates the native C++ backend and its fused model ops. */
async function useNative(): Promise<void> {
  try {
    registerNativeBackend();
  } catch (e) {
    if (e instanceof NativeUnavailableError) throw new UserError(`backend "native": ${e.message}, or use --backend cpu`);
    throw e;
  }
  await activate(NATIVE_BACKEND, 'native');
  installNativeOps();
  setAdamWUpdate(nativeAdamWUpdate);
}

let warnedNoNative = false;

/** Selects and initializes a backend; see the module comment for `auto`. */
export async function selectBackend(name: BackendName = 'auto'): Promise<BackendInfo> {
  if (!BACKEND_NAMES.includes(name)) {
    throw new UserError(`unknown backend "${String(name)}"; choose one of ${BACKEND_NAMES.join(', ')}`);
  }
  const skipped: string[] = [];
  if (name === 'auto') {
    for (const candidate of ['tfjs-node-gpu', 'webgpu', 'native', 'tfjs-node'] as const) {
      try {
        if (candidate === 'webgpu') {
          await activateWebGPUIfGpu();
          setAdamWUpdate(webgpuAdamWUpdate);
          return { name: candidate, tfBackend: tf.getBackend(), skipped };
        }
        if (candidate === 'native') {
          try {
            await useNative();
          } catch (e) {
            if (!warnedNoNative && process.env.LMPIPE_QUIET_BACKEND !== '1') {
              warnedNoNative = true;
              process.stderr.write(`lmpipe: warning: ${(e as Error).message.split('\n')[0]}; falling back to the much slower JS cpu backend\n`);
            }
            throw e;
          }
          return { name: candidate, tfBackend: tf.getBackend(), skipped };
        }
        await loadOptional(candidate);
        await activate('tensorflow', candidate);
        return { name: candidate, tfBackend: tf.getBackend(), skipped };
      } catch (e) {
        skipped.push(`${candidate}: ${(e as Error).message}`);
      }
    }
    await useCpu();
    return { name: 'cpu', tfBackend: tf.getBackend(), skipped };
  }
  if (name === 'cpu') {
    await useCpu();
  } else if (name === 'native') {
    await useNative();
  } else if (name === 'webgpu') {
    await activateWebGPU();
    setAdamWUpdate(webgpuAdamWUpdate);
  } else if (name === 'wasm') {
    await loadOptional('wasm');
    await activate('wasm', 'wasm');
  } else {
    await loadOptional(name);
    await activate('tensorflow', name);
  }
  return { name, tfBackend: tf.getBackend(), skipped };
}
