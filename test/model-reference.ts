/**
 * Independent float64 reference of the Transformer LM for the tests: plain
 * loops over Float64Array, written from the CS336 handouts' equations (not
 * from the tfjs model code). Parameters use the CS336 names and torch
 * layouts; activations are row-major (T, D) per batch item.
 */
import type { ModelConfig } from '../src/model/config.ts';

export type RefParams = Map<string, Float64Array>;

/** erf to ~1e-15: Taylor series near 0, Lentz continued fraction for erfc beyond 2.5. */
export function erf64(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 100; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …)))))
  const tiny = 1e-300;
  let f = ax;
  let c = ax;
  let d = 0;
  for (let n = 1; n < 300; n++) {
    const an = n / 2;
    d = ax + an * d;
    d = d === 0 ? tiny : d;
    c = ax + an / c;
    c = c === 0 ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return x > 0 ? 1 - erfc : erfc - 1;
}

export function gelu64(x: number): number {
  return 0.5 * x * (1 + erf64(x / Math.SQRT2));
}

export function silu64(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** y (n, dOut) = x (n, dIn) · Wᵀ with W (dOut, dIn). */
export function linear64(x: Float64Array, n: number, dIn: number, w: ArrayLike<number>, dOut: number): Float64Array {
  const y = new Float64Array(n * dOut);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < dOut; o++) {
      let s = 0;
      for (let k = 0; k < dIn; k++) s += x[i * dIn + k] * w[o * dIn + k];
      y[i * dOut + o] = s;
    }
  }
  return y;
}

export function rmsNorm64(x: Float64Array, n: number, d: number, w: ArrayLike<number>, eps: number): Float64Array {
  const y = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let ms = 0;
    for (let k = 0; k < d; k++) ms += x[i * d + k] ** 2;
    const r = 1 / Math.sqrt(ms / d + eps);
    for (let k = 0; k < d; k++) y[i * d + k] = x[i * d + k] * r * w[k];
  }
  return y;
}

/** In-place softmax of each row of length `d` (entries may be −∞). */
export function softmaxRows64(x: Float64Array, d: number): Float64Array {
  for (let r = 0; r < x.length / d; r++) {
    let m = -Infinity;
    for (let k = 0; k < d; k++) m = Math.max(m, x[r * d + k]);
    let s = 0;
    for (let k = 0; k < d; k++) { const e = Math.exp(x[r * d + k] - m); x[r * d + k] = e; s += e; }
    for (let k = 0; k < d; k++) x[r * d + k] /= s;
  }
  return x;
}

/** RoPE of x (T, d) in place, interleaved pairs, angle pos·θ^(−2i/d). */
export function rope64(x: Float64Array, t: number, d: number, positions: readonly number[], theta: number): Float64Array {
  for (let p = 0; p < t; p++) {
    for (let i = 0; i < d / 2; i++) {
      const a = positions[p] * Math.pow(theta, (-2 * i) / d);
      const x0 = x[p * d + 2 * i];
      const x1 = x[p * d + 2 * i + 1];
      x[p * d + 2 * i] = x0 * Math.cos(a) - x1 * Math.sin(a);
      x[p * d + 2 * i + 1] = x0 * Math.sin(a) + x1 * Math.cos(a);
    }
  }
  return x;
}

/**
 * Scaled dot-product attention for one head: q (tq, d), k (tk, d), v (tk, dv),
 * `allowed(i, j)` says whether query i may attend key j.
 */
export function sdpa64(q: Float64Array, k: Float64Array, v: Float64Array, tq: number, tk: number, d: number, dv: number,
  allowed: (i: number, j: number) => boolean): Float64Array {
  const s = new Float64Array(tq * tk);
  for (let i = 0; i < tq; i++) {
    for (let j = 0; j < tk; j++) {
      if (!allowed(i, j)) { s[i * tk + j] = -Infinity; continue; }
      let dot = 0;
      for (let c = 0; c < d; c++) dot += q[i * d + c] * k[j * d + c];
      s[i * tk + j] = dot / Math.sqrt(d);
    }
  }
  softmaxRows64(s, tk);
  const out = new Float64Array(tq * dv);
  for (let i = 0; i < tq; i++) {
    for (let j = 0; j < tk; j++) {
      const p = s[i * tk + j];
      if (p === 0) continue;
      for (let c = 0; c < dv; c++) out[i * dv + c] += p * v[j * dv + c];
    }
  }
  return out;
}

/** Causal MHA of x (T, D); RoPE on q and k per head when `theta` is given. */
export function mha64(x: Float64Array, t: number, dModel: number, numHeads: number,
  w: { q: ArrayLike<number>; k: ArrayLike<number>; v: ArrayLike<number>; o: ArrayLike<number> },
  rope: { theta: number; positions: readonly number[] } | null): Float64Array {
  const dh = dModel / numHeads;
  const q = linear64(x, t, dModel, w.q, dModel);
  const k = linear64(x, t, dModel, w.k, dModel);
  const v = linear64(x, t, dModel, w.v, dModel);
  const merged = new Float64Array(t * dModel);
  for (let h = 0; h < numHeads; h++) {
    const take = (a: Float64Array): Float64Array => {
      const r = new Float64Array(t * dh);
      for (let i = 0; i < t; i++) for (let c = 0; c < dh; c++) r[i * dh + c] = a[i * dModel + h * dh + c];
      return r;
    };
    const qh = take(q);
    const kh = take(k);
    if (rope) { rope64(qh, t, dh, rope.positions, rope.theta); rope64(kh, t, dh, rope.positions, rope.theta); }
    const oh = sdpa64(qh, kh, take(v), t, t, dh, dh, (i, j) => j <= i);
    for (let i = 0; i < t; i++) for (let c = 0; c < dh; c++) merged[i * dModel + h * dh + c] = oh[i * dh + c];
  }
  return linear64(merged, t, dModel, w.o, dModel);
}

export function ffn64(x: Float64Array, t: number, dModel: number, dff: number, kind: ModelConfig['ffn'],
  w: { w1: ArrayLike<number>; w2: ArrayLike<number>; w3?: ArrayLike<number> }): Float64Array {
  const h = linear64(x, t, dModel, w.w1, dff);
  if (kind === 'swiglu') {
    const g = linear64(x, t, dModel, w.w3 as ArrayLike<number>, dff);
    for (let i = 0; i < h.length; i++) h[i] = silu64(h[i]) * g[i];
  } else {
    for (let i = 0; i < h.length; i++) h[i] = kind === 'gelu' ? gelu64(h[i]) : silu64(h[i]);
  }
  return linear64(h, t, dff, w.w2, dModel);
}

function add64(a: Float64Array, b: Float64Array): Float64Array {
  const y = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = a[i] + b[i];
  return y;
}

function get(params: RefParams, name: string): Float64Array {
  const p = params.get(name);
  if (!p) throw new Error(`reference: missing ${name}`);
  return p;
}

/** One block of x (T, D) for batch item positions `positions`. */
export function block64(config: ModelConfig, params: RefParams, layer: number, x: Float64Array, t: number, positions: readonly number[]): Float64Array {
  const D = config.d_model;
  const p = `layers.${layer}.`;
  const norm = (name: string, h: Float64Array): Float64Array => rmsNorm64(h, t, D, get(params, `${p}${name}.weight`), config.norm_eps);
  const attn = (h: Float64Array): Float64Array => mha64(h, t, D, config.num_heads, {
    q: get(params, `${p}attn.q_proj.weight`), k: get(params, `${p}attn.k_proj.weight`),
    v: get(params, `${p}attn.v_proj.weight`), o: get(params, `${p}attn.output_proj.weight`),
  }, config.position === 'rope' ? { theta: config.rope_theta, positions } : null);
  const ffn = (h: Float64Array): Float64Array => ffn64(h, t, D, config.d_ff, config.ffn, {
    w1: get(params, `${p}ffn.w1.weight`), w2: get(params, `${p}ffn.w2.weight`),
    w3: config.ffn === 'swiglu' ? get(params, `${p}ffn.w3.weight`) : undefined,
  });
  if (config.parallel) {
    const h = config.norm === 'pre' ? norm('ln1', x) : x;
    const y = add64(add64(x, attn(h)), ffn(h));
    return config.norm === 'post' ? norm('ln1', y) : y;
  }
  if (config.norm === 'pre') {
    const h = add64(x, attn(norm('ln1', x)));
    return add64(h, ffn(norm('ln2', h)));
  }
  let h = add64(x, attn(x));
  if (config.norm === 'post') h = norm('ln1', h);
  let y = add64(h, ffn(h));
  if (config.norm === 'post') y = norm('ln2', y);
  return y;
}

/** Logits (B·T·V, row-major) for ids (B rows of T tokens) at positions offset..offset+T−1. */
export function lm64(config: ModelConfig, params: RefParams, ids: readonly (readonly number[])[]): Float64Array {
  const D = config.d_model;
  const V = config.vocab_size;
  const T = ids[0].length;
  const positions = Array.from({ length: T }, (_, i) => i);
  const out = new Float64Array(ids.length * T * V);
  const emb = get(params, 'token_embeddings.weight');
  ids.forEach((row, b) => {
    let x: Float64Array = new Float64Array(T * D);
    for (let i = 0; i < T; i++) {
      for (let c = 0; c < D; c++) {
        x[i * D + c] = emb[row[i] * D + c];
        if (config.position === 'learned') x[i * D + c] += get(params, 'position_embeddings.weight')[i * D + c];
      }
    }
    for (let l = 0; l < config.num_layers; l++) x = block64(config, params, l, x, T, positions);
    if (config.norm === 'pre') x = rmsNorm64(x, T, D, get(params, 'ln_final.weight'), config.norm_eps);
    const head = config.tie_embeddings ? emb : get(params, 'lm_head.weight');
    out.set(linear64(x, T, D, head, V), b * T * V);
  });
  return out;
}

/** Mean cross-entropy of logits (n, V) against targets. */
export function crossEntropy64(logits: ArrayLike<number>, targets: readonly number[], V: number): number {
  let total = 0;
  for (let i = 0; i < targets.length; i++) {
    let m = -Infinity;
    for (let k = 0; k < V; k++) m = Math.max(m, logits[i * V + k]);
    let s = 0;
    for (let k = 0; k < V; k++) s += Math.exp(logits[i * V + k] - m);
    total += Math.log(s) + m - logits[i * V + targets[i]];
  }
  return total / targets.length;
}
