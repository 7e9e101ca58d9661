/**
 * The `cpu` backend: tfjs's pure-JS cpu backend with lmpipe's replacement
 * kernels (kernels.ts). Always available, so it ends the `auto` order, and
 * the reference the other backends are tested against. The model runs its
 * plain ops, AdamW its plain update.
 */
import * as tf from '@tensorflow/tfjs';
import { setTfBackend } from '../set-backend.ts';
import { AVAILABLE } from '../interface.ts';
import type { Backend } from '../interface.ts';
import { REPLACED_CPU_KERNELS, installCpuKernels } from './kernels.ts';
import { plainAdamWUpdate } from '../../train/adamw.ts';

export const cpuBackend: Backend<'cpu'> = {
  name: 'cpu',
  auto: true,
  probe: async () => AVAILABLE,
  async activate() {
    await setTfBackend('cpu', 'cpu');
    installCpuKernels();
    // Skip tfjs's one-time "install tfjs-node" console banner: choosing cpu is deliberate here.
    const b = tf.backend() as unknown as { firstUse?: boolean };
    if (b.firstUse !== undefined) b.firstUse = false;
    return { ops: {}, adamwUpdate: plainAdamWUpdate };
  },
  info: () => ({ tfBackend: 'cpu', replacedKernels: REPLACED_CPU_KERNELS.join(',') }),
};
