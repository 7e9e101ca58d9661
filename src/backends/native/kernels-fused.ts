/**
 * Kernels for the fused operations (`fused.ts`), registered on the native
 * backend only under lmpipe's own kernel names. Each forward kernel returns
 * what its backward kernel needs (e.g. RMSNorm's per-row inverse RMS,
 * attention's per-row log-sum-exp), so nothing is recomputed needlessly and
 * nothing big (attention scores) is kept.
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import type { NativeAddon } from './addon.ts';
import type { CpuBackendLike, KernelArgs, NativeKernel } from './cpu-data.ts';
import { f32Values, i32Values } from './cpu-data.ts';
import { sizeOf } from '../broadcast.ts';

/** Kernel names (registered for the 'native' backend only). */
export const FUSED_KERNELS = {
  rmsNorm: 'LmpipeRmsNorm',
  rmsNormGrad: 'LmpipeRmsNormGrad',
  rope: 'LmpipeRope',
  attention: 'LmpipeAttention',
  attentionGrad: 'LmpipeAttentionGrad',
  crossEntropy: 'LmpipeCrossEntropy',
  crossEntropyGrad: 'LmpipeCrossEntropyGrad',
  activation: 'LmpipeActivation',
  activationGrad: 'LmpipeActivationGrad',
  swiglu: 'LmpipeSwiglu',
  swigluGrad: 'LmpipeSwigluGrad',
  softmaxGrad: 'LmpipeSoftmaxGrad',
  adamw: 'LmpipeAdamW',
} as const;

/** Activation codes shared with native/src/kernels.h. */
export const ACTIVATIONS = { silu: 0, gelu: 1 } as const;

function need(backend: CpuBackendLike, t: TensorInfo | undefined, what: string): Float32Array {
  const v = f32Values(backend, t);
  if (!v) throw new Error(`native fused kernel: ${what} must be a float32 tensor on the native backend`);
  return v;
}

function needI32(backend: CpuBackendLike, t: TensorInfo | undefined, what: string): Int32Array {
  const v = i32Values(backend, t);
  if (!v) throw new Error(`native fused kernel: ${what} must be an int32 tensor on the native backend`);
  return v;
}

/** Sizes of attention over q (..., Tq, dh), k (..., Tk, dh), v (..., Tk, dv); bh = the leading dims' product. */
function attentionDims(q: TensorInfo | undefined, k: TensorInfo | undefined, v: TensorInfo | undefined): { qs: number[]; bh: number; tq: number; tk: number; dh: number; dv: number } {
  const qs = shapeOf(q);
  const ks = shapeOf(k);
  const vs = shapeOf(v);
  const r = qs.length;
  return { qs, bh: sizeOf(qs.slice(0, -2)), tq: qs[r - 2], dh: qs[r - 1], tk: ks[r - 2], dv: vs[r - 1] };
}

function shapeOf(t: TensorInfo | undefined): number[] {
  if (!t) throw new Error('native fused kernel: missing input');
  return t.shape.slice();
}

function num(args: KernelArgs, key: string): number {
  const v = args.attrs?.[key];
  if (typeof v !== 'number') throw new Error(`native fused kernel: attribute "${key}" must be a number`);
  return v;
}

/** Kernel name → implementation. */
export function fusedKernels(addon: NativeAddon): Record<string, NativeKernel> {
  return {
    // x (..., d), w (d) → [y (..., d), inv (...)]
    [FUSED_KERNELS.rmsNorm]: (args) => {
      const { x, w } = args.inputs;
      const xv = need(args.backend, x, 'x');
      const shape = shapeOf(x);
      const d = shape[shape.length - 1];
      const rows = d > 0 ? xv.length / d : 0;
      const y = new Float32Array(xv.length);
      const inv = new Float32Array(rows);
      addon.rmsnormForward(xv, need(args.backend, w, 'w'), num(args, 'eps'), y, inv, rows, d);
      return [args.backend.makeTensorInfo(shape, 'float32', y), args.backend.makeTensorInfo(shape.slice(0, -1), 'float32', inv)];
    },
    // x, w, inv, dy → [dx, dw]
    [FUSED_KERNELS.rmsNormGrad]: (args) => {
      const { x, w, inv, dy } = args.inputs;
      const xv = need(args.backend, x, 'x');
      const shape = shapeOf(x);
      const d = shape[shape.length - 1];
      const rows = d > 0 ? xv.length / d : 0;
      const dx = new Float32Array(xv.length);
      const dw = new Float32Array(d);
      addon.rmsnormBackward(xv, need(args.backend, w, 'w'), need(args.backend, inv, 'inv'), need(args.backend, dy, 'dy'), dx, dw, rows, d);
      return [args.backend.makeTensorInfo(shape, 'float32', dx), args.backend.makeTensorInfo([d], 'float32', dw)];
    },
    // x (..., T, d), cos/sin (T, d) → out; attrs.backward applies the transpose
    [FUSED_KERNELS.rope]: (args) => {
      const { x, cos, sin } = args.inputs;
      const xv = need(args.backend, x, 'x');
      const shape = shapeOf(x);
      const d = shape[shape.length - 1];
      const t = shape[shape.length - 2];
      const out = new Float32Array(xv.length);
      const outer = t * d > 0 ? xv.length / (t * d) : 0;
      addon.rope(xv, need(args.backend, cos, 'cos'), need(args.backend, sin, 'sin'), out, outer, t, d, args.attrs?.backward === true);
      return args.backend.makeTensorInfo(shape, 'float32', out);
    },
    // q (..., Tq, dh), k (..., Tk, dh), v (..., Tk, dv) → [o (..., Tq, dv), lse (..., Tq)]
    [FUSED_KERNELS.attention]: (args) => {
      const { q, k, v } = args.inputs;
      const { qs, bh, tq, tk, dh, dv } = attentionDims(q, k, v);
      const o = new Float32Array(bh * tq * dv);
      const lse = new Float32Array(bh * tq);
      addon.attentionForward(need(args.backend, q, 'q'), need(args.backend, k, 'k'), need(args.backend, v, 'v'), o, lse,
        bh, tq, tk, dh, dv, num(args, 'scale'), num(args, 'causalOffset'));
      return [
        args.backend.makeTensorInfo([...qs.slice(0, -1), dv], 'float32', o),
        args.backend.makeTensorInfo(qs.slice(0, -1), 'float32', lse),
      ];
    },
    // q, k, v, o, lse, dy → [dq, dk, dv]
    [FUSED_KERNELS.attentionGrad]: (args) => {
      const { q, k, v, o, lse, dy } = args.inputs;
      const { qs, bh, tq, tk, dh, dv } = attentionDims(q, k, v);
      const dq = new Float32Array(bh * tq * dh);
      const dk = new Float32Array(bh * tk * dh);
      const dvv = new Float32Array(bh * tk * dv);
      addon.attentionBackward(need(args.backend, q, 'q'), need(args.backend, k, 'k'), need(args.backend, v, 'v'),
        need(args.backend, o, 'o'), need(args.backend, lse, 'lse'), need(args.backend, dy, 'dy'), dq, dk, dvv,
        bh, tq, tk, dh, dv, num(args, 'scale'), num(args, 'causalOffset'));
      return [
        args.backend.makeTensorInfo(qs, 'float32', dq),
        args.backend.makeTensorInfo(shapeOf(k), 'float32', dk),
        args.backend.makeTensorInfo(shapeOf(v), 'float32', dvv),
      ];
    },
    // logits (n, V), targets (n) int32 → [mean loss (scalar), lse (n)]
    [FUSED_KERNELS.crossEntropy]: (args) => {
      const { logits, targets } = args.inputs;
      const lv = need(args.backend, logits, 'logits');
      const tv = needI32(args.backend, targets, 'targets');
      const [n, vocab] = shapeOf(logits);
      const lse = new Float32Array(n);
      const total = addon.ceForward(lv, tv, lse, n, vocab);
      return [
        args.backend.makeTensorInfo([], 'float32', new Float32Array([total / n])),
        args.backend.makeTensorInfo([n], 'float32', lse),
      ];
    },
    // logits, targets, lse, dy (scalar) → dlogits = (softmax − onehot)·dy/n
    [FUSED_KERNELS.crossEntropyGrad]: (args) => {
      const { logits, targets, lse, dy } = args.inputs;
      const lv = need(args.backend, logits, 'logits');
      const [n, vocab] = shapeOf(logits);
      const g = need(args.backend, dy, 'dy')[0];
      const out = new Float32Array(lv.length);
      addon.ceBackward(lv, needI32(args.backend, targets, 'targets'), need(args.backend, lse, 'lse'), g / n, out, n, vocab);
      return args.backend.makeTensorInfo([n, vocab], 'float32', out);
    },
    [FUSED_KERNELS.activation]: (args) => {
      const x = args.inputs.x;
      const xv = need(args.backend, x, 'x');
      const out = new Float32Array(xv.length);
      addon.actForward(num(args, 'kind'), xv, out);
      return args.backend.makeTensorInfo(shapeOf(x), 'float32', out);
    },
    [FUSED_KERNELS.activationGrad]: (args) => {
      const { x, dy } = args.inputs;
      const xv = need(args.backend, x, 'x');
      const out = new Float32Array(xv.length);
      addon.actBackward(num(args, 'kind'), xv, need(args.backend, dy, 'dy'), out);
      return args.backend.makeTensorInfo(shapeOf(x), 'float32', out);
    },
    // silu(a) ⊙ b
    [FUSED_KERNELS.swiglu]: (args) => {
      const { a, b } = args.inputs;
      const av = need(args.backend, a, 'a');
      const out = new Float32Array(av.length);
      addon.swigluForward(av, need(args.backend, b, 'b'), out);
      return args.backend.makeTensorInfo(shapeOf(a), 'float32', out);
    },
    [FUSED_KERNELS.swigluGrad]: (args) => {
      const { a, b, dy } = args.inputs;
      const av = need(args.backend, a, 'a');
      const da = new Float32Array(av.length);
      const db = new Float32Array(av.length);
      addon.swigluBackward(av, need(args.backend, b, 'b'), need(args.backend, dy, 'dy'), da, db);
      return [args.backend.makeTensorInfo(shapeOf(a), 'float32', da), args.backend.makeTensorInfo(shapeOf(a), 'float32', db)];
    },
    // y = softmax(x) over the last axis, dy → y ⊙ (dy − Σ dy ⊙ y)
    [FUSED_KERNELS.softmaxGrad]: (args) => {
      const { y, dy } = args.inputs;
      const yv = need(args.backend, y, 'y');
      const shape = shapeOf(y);
      const cols = shape[shape.length - 1];
      const out = new Float32Array(yv.length);
      if (cols > 0) addon.softmaxGrad(yv, need(args.backend, dy, 'dy'), out, yv.length / cols, cols);
      return args.backend.makeTensorInfo(shape, 'float32', out);
    },
    // p, g, m, v → [p', m', v'] (see native/src/kernels.inc adamw)
    [FUSED_KERNELS.adamw]: (args) => {
      const { p, g, m, v } = args.inputs;
      const pv = need(args.backend, p, 'p');
      const shape = shapeOf(p);
      const p2 = new Float32Array(pv.length);
      const m2 = new Float32Array(pv.length);
      const v2 = new Float32Array(pv.length);
      addon.adamw(pv, need(args.backend, g, 'g'), need(args.backend, m, 'm'), need(args.backend, v, 'v'), p2, m2, v2,
        num(args, 'alpha'), num(args, 'beta1'), num(args, 'beta2'), num(args, 'eps'), num(args, 'decay'));
      return [
        args.backend.makeTensorInfo(shape, 'float32', p2),
        args.backend.makeTensorInfo(shape, 'float32', m2),
        args.backend.makeTensorInfo(shape, 'float32', v2),
      ];
    },
  };
}
