/**
 * Every backend lmpipe can run on, in the order `auto` tries them:
 * CUDA libtensorflow, WebGPU on a real GPU, lmpipe's native kernels, CPU
 * libtensorflow, then the pure-JS reference (always available). Entries with
 * `auto: false` are chosen by name only. Adding a backend = one folder
 * `src/backends/<folder>/backend.ts` exporting a `Backend` (interface.ts),
 * plus one line here (test/backend-registry.test.ts checks that every
 * folder's backends are listed).
 */
import { cpuBackend } from './cpu/backend.ts';
import { nativeBackend } from './native/backend.ts';
import { tfjsNodeBackend, tfjsNodeGpuBackend } from './tfjs-node/backend.ts';
import { wasmBackend } from './wasm/backend.ts';
import { webgpuBackend } from './webgpu/backend.ts';

export const BACKENDS = [
  tfjsNodeGpuBackend,
  webgpuBackend,
  nativeBackend,
  tfjsNodeBackend,
  cpuBackend,
  wasmBackend,
] as const;

/** A registered backend's name. */
export type RegisteredBackendName = (typeof BACKENDS)[number]['name'];

/** What `--backend` accepts. */
export type BackendName = 'auto' | RegisteredBackendName;

/** Every `--backend` value: `auto`, then the registry in order. */
export const BACKEND_NAMES: readonly BackendName[] = ['auto', ...BACKENDS.map((b) => b.name)];
