/**
 * The `tfjs-node-gpu` (CUDA) and `tfjs-node` (CPU) backends: Google's
 * libtensorflow bindings, optional npm packages loaded by dynamic import.
 * Both register tfjs's backend `tensorflow`; lmpipe adds no fused ops there
 * (the model runs its plain ops, AdamW its plain update).
 */
import { importOptional } from '../optional-package.ts';
import { setTfBackend } from '../set-backend.ts';
import { AVAILABLE, unavailable } from '../interface.ts';
import type { Backend } from '../interface.ts';
import { plainAdamWUpdate } from '../../train/adamw.ts';

function libtensorflowBackend<N extends string>(name: N, pkg: string): Backend<N> {
  return {
    name,
    auto: true,
    async probe() {
      const reason = await importOptional(name, pkg);
      return reason === null ? AVAILABLE : unavailable(reason);
    },
    async activate() {
      await setTfBackend('tensorflow', name);
      return { ops: {}, adamwUpdate: plainAdamWUpdate };
    },
    info: () => ({ package: pkg, tfBackend: 'tensorflow' }),
  };
}

/** CUDA libtensorflow: first in `auto` order. */
export const tfjsNodeGpuBackend = libtensorflowBackend('tfjs-node-gpu', '@tensorflow/tfjs-node-gpu');

/** CPU libtensorflow: after native in `auto` order. */
export const tfjsNodeBackend = libtensorflowBackend('tfjs-node', '@tensorflow/tfjs-node');
