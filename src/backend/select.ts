/**
 * Chooses the TensorFlow.js backend. The native bindings
 * (`@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node`) and the WASM backend
 * are optional packages loaded by dynamic import; `auto` takes the GPU
 * binding when it loads, else the CPU binding, else the pure-JS `cpu`
 * backend, which gets the replacement kernels of `cpu-kernels.ts`.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../pipeline/errors.ts';
import { installCpuKernels } from './cpu-kernels.ts';

export type BackendName = 'auto' | 'tfjs-node-gpu' | 'tfjs-node' | 'cpu' | 'wasm';

export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'tfjs-node-gpu', 'tfjs-node', 'cpu', 'wasm'];

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
  // Skip tfjs's one-time "install tfjs-node" console banner: choosing cpu is deliberate here.
  const b = tf.backend() as unknown as { firstUse?: boolean };
  if (b.firstUse !== undefined) b.firstUse = false;
}

/** Selects and initializes a backend; see the module comment for `auto`. */
export async function selectBackend(name: BackendName = 'auto'): Promise<BackendInfo> {
  if (!BACKEND_NAMES.includes(name)) {
    throw new UserError(`unknown backend "${String(name)}"; choose one of ${BACKEND_NAMES.join(', ')}`);
  }
  const skipped: string[] = [];
  if (name === 'auto') {
    for (const candidate of ['tfjs-node-gpu', 'tfjs-node'] as const) {
      try {
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
  } else if (name === 'wasm') {
    await loadOptional('wasm');
    await activate('wasm', 'wasm');
  } else {
    await loadOptional(name);
    await activate('tensorflow', name);
  }
  return { name, tfBackend: tf.getBackend(), skipped };
}
