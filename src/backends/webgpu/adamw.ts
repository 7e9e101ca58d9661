/**
 * One AdamW update of a parameter as a single WGSL pass (instead of a dozen
 * elementwise tfjs kernels per parameter per step), the arithmetic and order
 * of `src/train/adamw.ts`: m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
 * θ ← θ − α_t·m/(√v + ε); θ ← θ − decay·θ. Same signature as the native
 * backend's `adamwUpdate` (src/backends/native/fused.ts), so the trainer can take
 * either; on other backends (or unfit inputs) it computes the same with tfjs ops.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { ENTRY_ARGS_WGSL, bindingsWgsl, runWgsl, webgpuDevice } from './dispatch.ts';
import type { WgslProgram } from './dispatch.ts';
import { plainAdamWUpdate, type AdamWStepParams } from '../../train/adamw.ts';


const WG = 128;

const program: WgslProgram = {
  label: 'lmpipe_adamw',
  code: /* wgsl */ `
${bindingsWgsl([{ name: 'pOut', type: 'f32' }, { name: 'mOut', type: 'f32' }, { name: 'vOut', type: 'f32' }],
    [{ name: 'p', type: 'f32' }, { name: 'g', type: 'f32' }, { name: 'm', type: 'f32' }, { name: 'v', type: 'f32' }],
    [['total', 'u32'], ['beta1', 'f32'], ['oneMinusBeta1', 'f32'], ['beta2', 'f32'], ['oneMinusBeta2', 'f32'], ['eps', 'f32'], ['alpha', 'f32'], ['decay', 'f32']])}
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS_WGSL}) {
  let gi = workgroupIndex(wid, nwg);
  let i = gi * ${WG}u + lid;
  if (gi >= params.groups || i >= params.total) { return; }
  let gr = g[i];
  let m1 = m[i] * params.beta1 + gr * params.oneMinusBeta1;
  let v1 = v[i] * params.beta2 + (gr * gr) * params.oneMinusBeta2;
  let stepped = p[i] - (m1 / (sqrt(v1) + params.eps)) * params.alpha;
  pOut[i] = stepped - stepped * params.decay;
  mOut[i] = m1;
  vOut[i] = v1;
}`,
};

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** New parameter and moments after one AdamW update (nothing is modified in place). */
export function adamwUpdate(p: Tensor, g: Tensor, m: Tensor, v: Tensor, h: AdamWStepParams): { param: Tensor; m: Tensor; v: Tensor } {
  const ts = [p, g, m, v];
  const fits = tf.getBackend() === 'webgpu' && ts.every((t) => t.dtype === 'float32' && sameShape(t.shape, p.shape))
    && p.size > 0 && p.size * 4 <= (webgpuDevice().limits.maxStorageBufferBindingSize ?? 134217728);
  if (fits) {
    const out = { shape: p.shape.slice(), dtype: 'float32' as const };
    const [pi, mi, vi] = runWgsl(program, ts, [out, out, out], [
      { u: p.size }, { f: h.beta1 }, { f: 1 - h.beta1 }, { f: h.beta2 }, { f: 1 - h.beta2 }, { f: h.eps }, { f: h.alpha }, { f: h.decay },
    ], Math.ceil(p.size / WG));
    const wrap = (i: tf.TensorInfo): Tensor => tf.engine().makeTensorFromTensorInfo(i);
    return { param: wrap(pi), m: wrap(mi), v: wrap(vi) };
  }
  return plainAdamWUpdate(p, g, m, v, h);
}
