/**
 * Chooses and activates the TensorFlow.js backend, by name from the
 * registry (registry.ts). A named backend must probe available, or its
 * reason is the error. `auto` walks the registry in order, skipping each
 * backend that is unavailable or fails to activate (the reasons are kept,
 * and a backend with a `skipWarning` is named on stderr once), and takes
 * the first that activates; the pure-JS `cpu` backend is last and always
 * there. The chosen backend's fused ops go into the model's ops table (the
 * others back to the plain ops) and its AdamW update into the trainer.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../pipeline/errors.ts';
import { DEFAULT_OPS, overrideOps } from '../model/ops.ts';
import { setAdamWUpdate } from '../train/adamw.ts';
import type { Backend, BackendFacts, BackendRuntime } from './interface.ts';
import { BACKENDS } from './registry.ts';
import type { BackendName, RegisteredBackendName } from './registry.ts';

/** What `selectBackend` ended up with. */
export interface BackendInfo<N extends string = RegisteredBackendName> {
  /** The backend chosen (never 'auto'). */
  name: N;
  /** tfjs's own name of the active backend ('cpu', 'native', 'tensorflow', 'webgpu', 'wasm'). */
  tfBackend: string;
  /** Why the preferred backends were skipped under 'auto' (`name: reason`). */
  skipped: string[];
  /** The backend's `info()` once active. */
  facts: BackendFacts;
}

export interface SelectOptions {
  /** Where `auto`'s one-line skip warnings go (default: stderr, silenced by LMPIPE_QUIET_BACKEND=1). */
  warn?: (line: string) => void;
}

/** Backends whose skip warning was already printed in this process. */
const warned = new Set<string>();

function defaultWarn(line: string): void {
  if (process.env.LMPIPE_QUIET_BACKEND !== '1') process.stderr.write(`${line}\n`);
}

/** Installs what the activated backend gives the model and the trainer. */
function install<N extends string>(backend: Backend<N>, runtime: BackendRuntime, skipped: string[]): BackendInfo<N> {
  overrideOps({ ...DEFAULT_OPS, ...runtime.ops });
  setAdamWUpdate(runtime.adamwUpdate);
  return { name: backend.name, tfBackend: tf.getBackend(), skipped, facts: backend.info() };
}

async function selectAuto<N extends string>(registry: readonly Backend<N>[], warn: (line: string) => void): Promise<BackendInfo<N>> {
  const skipped: string[] = [];
  const skip = (backend: Backend<N>, reason: string): void => {
    skipped.push(`${backend.name}: ${reason}`);
    if (backend.skipWarning !== undefined && !warned.has(backend.name)) {
      warned.add(backend.name);
      warn(`lmpipe: warning: ${reason.split('\n')[0]}; ${backend.skipWarning}`);
    }
  };
  for (const backend of registry) {
    if (!backend.auto) continue;
    try {
      const probe = await backend.probe({ auto: true });
      if (!probe.available) {
        skip(backend, probe.reason);
        continue;
      }
      return install(backend, await backend.activate(), skipped);
    } catch (e) {
      skip(backend, (e as Error).message);
    }
  }
  throw new UserError(`no backend could be activated (${skipped.join('; ')})`);
}

/**
 * Selects and activates a backend of `registry` by name, or the first that
 * works under 'auto' (see the module comment). An unknown name is a
 * one-line UserError listing the valid ones.
 */
export async function selectFrom<N extends string>(registry: readonly Backend<N>[], name: string, options: SelectOptions = {}): Promise<BackendInfo<N>> {
  if (name === 'auto') return selectAuto(registry, options.warn ?? defaultWarn);
  const backend = registry.find((b) => b.name === name);
  if (!backend) {
    throw new UserError(`unknown backend "${name}"; choose one of ${['auto', ...registry.map((b) => b.name)].join(', ')}`);
  }
  const probe = await backend.probe({ auto: false });
  if (!probe.available) throw new UserError(probe.reason);
  return install(backend, await backend.activate(), []);
}

/** Selects and activates the backend `name` of lmpipe's registry ('auto': the first that works). */
export async function selectBackend(name: BackendName = 'auto', options: SelectOptions = {}): Promise<BackendInfo> {
  return selectFrom<RegisteredBackendName>(BACKENDS, String(name), options);
}
