/**
 * Rotary embedding as one elementwise WGSL kernel over x (..., T, d) with
 * the interleaved tables of `ops.rope` (cos (T, d), signed sin (T, d)):
 * y[i] = x[i]·cos[t] + x[i^1]·sin[t], where i^1 is the pair partner. The
 * backward pass is the transposed map, dx[i] = dy[i]·cos[t] + dy[i^1]·sin[t^1]
 * (for RoPE's signed tables, the rotation by −θ), exact for any tables.
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import { ENTRY_ARGS_WGSL, bindingsWgsl, runWgsl } from './dispatch.ts';
import type { WgslProgram } from './dispatch.ts';

// 128 fits every device, compatibility mode included.
const WG = 128;

const program: WgslProgram = {
  label: 'lmpipe_rope',
  code: /* wgsl */ `
${bindingsWgsl([{ name: 'y', type: 'f32' }], [{ name: 'x', type: 'f32' }, { name: 'cosT', type: 'f32' }, { name: 'sinT', type: 'f32' }], [['total', 'u32'], ['T', 'u32'], ['d', 'u32'], ['transpose', 'u32']])}
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS_WGSL}) {
  let g = workgroupIndex(wid, nwg);
  let i = g * ${WG}u + lid;
  if (g >= params.groups || i >= params.total) { return; }
  let row = i / params.d;
  let j = i - row * params.d;
  let t = (row % params.T) * params.d + j;
  let ts = select(t, t ^ 1u, params.transpose != 0u);
  y[i] = x[i] * cosT[t] + x[i ^ 1u] * sinT[ts];
}`,
};

/** RoPE of x with tables (T, d); `transpose` applies the transposed map (the gradient). */
export function ropeApply(x: TensorInfo, cos: TensorInfo, sin: TensorInfo, transpose: boolean): TensorInfo {
  const d = x.shape[x.shape.length - 1];
  const T = x.shape[x.shape.length - 2];
  const total = x.shape.reduce((a, b) => a * b, 1);
  const [y] = runWgsl(program, [x, cos, sin], [{ shape: x.shape.slice(), dtype: 'float32' }], [{ u: total }, { u: T }, { u: d }, { u: transpose ? 1 : 0 }], Math.ceil(total / WG));
  return y;
}
