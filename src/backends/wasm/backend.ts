/**
 * The `wasm` backend: tfjs's WebAssembly backend, an optional npm package.
 * Chosen only by name: `auto` does not try it. No fused ops.
 */
import { importOptional } from '../optional-package.ts';
import { setTfBackend } from '../set-backend.ts';
import { AVAILABLE, unavailable } from '../interface.ts';
import type { Backend } from '../interface.ts';
import { plainAdamWUpdate } from '../../train/adamw.ts';

const PACKAGE = '@tensorflow/tfjs-backend-wasm';

export const wasmBackend: Backend<'wasm'> = {
  name: 'wasm',
  auto: false,
  async probe() {
    const reason = await importOptional('wasm', PACKAGE);
    return reason === null ? AVAILABLE : unavailable(reason);
  },
  async activate() {
    await setTfBackend('wasm', 'wasm');
    return { ops: {}, adamwUpdate: plainAdamWUpdate };
  },
  info: () => ({ package: PACKAGE, tfBackend: 'wasm' }),
};
