/**
 * AdamW exactly as the CS336 handout writes it (Loshchilov & Hutter, with the
 * handout's order of operations):
 *
 *   m ← β1·m + (1−β1)·g
 *   v ← β2·v + (1−β2)·g²
 *   α_t = lr·√(1−β2^t)/(1−β1^t)
 *   θ ← θ − α_t·m/(√v + ε)
 *   θ ← θ − lr·λ·θ          (decoupled weight decay, applied AFTER the step)
 *
 * torch.optim.AdamW decays first; that order lands ~5e-6 away from the CS336
 * v2024 fixture, so the handout order is the one that matters here.
 *
 * Parameters and moments are tfjs Variables updated in place inside
 * `tf.tidy` (no tensor leaks, no synchronous reads). The moments and the step
 * count can be exported and imported for checkpoints.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor, Variable } from '@tensorflow/tfjs';

/** Hyperparameters (the CS336 defaults are β = (0.9, 0.999), ε = 1e-8). */
export interface AdamWOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

/** Plain float32 values with their shape (as in checkpoints). */
export interface StateArray {
  shape: number[];
  data: Float32Array;
}

/** Hyperparameters of one AdamW update of one parameter. */
export interface AdamWStepParams {
  /** Bias-corrected step size α_t = lr·√(1−β2^t)/(1−β1^t). */
  alpha: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled decay lr·λ, applied after the step (CS336 handout order). */
  decay: number;
}

/** One AdamW update: new parameter and moments (inputs are not modified). */
export type AdamWUpdateFn = (p: Tensor, g: Tensor, m: Tensor, v: Tensor, h: AdamWStepParams) => { param: Tensor; m: Tensor; v: Tensor };

/** The update with plain tfjs ops: m, v, then θ − α_t·m/(√v+ε), then θ − decay·θ. */
export const plainAdamWUpdate: AdamWUpdateFn = (p, g, m, v, h) => tf.tidy(() => {
  const m1 = tf.add(tf.mul(m, h.beta1), tf.mul(g, 1 - h.beta1));
  const v1 = tf.add(tf.mul(v, h.beta2), tf.mul(tf.square(g), 1 - h.beta2));
  const stepped = tf.sub(p, tf.mul(tf.div(m1, tf.add(tf.sqrt(v1), h.eps)), h.alpha));
  const param = h.decay === 0 ? stepped : tf.sub(stepped, tf.mul(stepped, h.decay));
  return { param, m: m1, v: v1 };
});

let adamwUpdateFn: AdamWUpdateFn = plainAdamWUpdate;

/**
 * Swaps in a backend's fused one-pass update (the native and webgpu backends
 * install theirs when selected; the arithmetic is the same). Returns a restore function.
 */
export function setAdamWUpdate(fn: AdamWUpdateFn): () => void {
  const previous = adamwUpdateFn;
  adamwUpdateFn = fn;
  return () => { adamwUpdateFn = previous; };
}

/** Serializable optimizer state: step count and both moments by parameter name. */
export interface AdamWState {
  step: number;
  m: Map<string, StateArray>;
  v: Map<string, StateArray>;
}

export const ADAMW_DEFAULTS: AdamWOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 };

function validate(o: AdamWOptions): void {
  const [b1, b2] = o.betas;
  if (!(o.lr >= 0) || !Number.isFinite(o.lr)) throw new RangeError(`AdamW lr must be a finite number >= 0, got ${o.lr}`);
  if (!(b1 >= 0 && b1 < 1) || !(b2 >= 0 && b2 < 1)) throw new RangeError(`AdamW betas must lie in [0, 1), got [${o.betas}]`);
  if (!(o.eps > 0)) throw new RangeError(`AdamW eps must be > 0, got ${o.eps}`);
  if (!(o.weightDecay >= 0)) throw new RangeError(`AdamW weight decay must be >= 0, got ${o.weightDecay}`);
}

export class AdamW {
  readonly options: AdamWOptions;
  private readonly params: Readonly<Record<string, Variable>>;
  private readonly m = new Map<string, Variable>();
  private readonly v = new Map<string, Variable>();
  private t = 0;

  /** `params`: the trainable variables by (checkpoint) name. */
  constructor(params: Readonly<Record<string, Variable>>, options: Partial<AdamWOptions> = {}) {
    this.params = params;
    this.options = { ...ADAMW_DEFAULTS, ...options };
    validate(this.options);
  }

  /** Number of updates applied so far (t of the bias correction). */
  get step(): number {
    return this.t;
  }

  /**
   * One AdamW update. `grads` maps parameter names to gradients; parameters
   * without a gradient are left untouched (their moments too). `lr`
   * overrides the base learning rate for this step (the schedule's value).
   * The gradient tensors are not disposed (the caller owns them).
   */
  applyGradients(grads: Readonly<Record<string, Tensor | null | undefined>>, lr: number = this.options.lr): void {
    for (const name of Object.keys(grads)) {
      if (!(name in this.params)) throw new Error(`AdamW: gradient for unknown parameter "${name}"`);
    }
    const { betas: [b1, b2], eps, weightDecay } = this.options;
    this.t += 1;
    const t = this.t;
    const alpha = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
    const decay = lr * weightDecay;
    for (const [name, p] of Object.entries(this.params)) {
      const g = grads[name];
      if (!g) continue;
      const m = this.moment(this.m, name, p);
      const v = this.moment(this.v, name, p);
      const r = adamwUpdateFn(p, g, m, v, { alpha, beta1: b1, beta2: b2, eps, decay });
      m.assign(r.m);
      v.assign(r.v);
      p.assign(r.param);
      tf.dispose([r.param, r.m, r.v]);
    }
  }

  /** The moments and step, read asynchronously (for checkpoints). */
  async exportState(): Promise<AdamWState> {
    const read = async (src: Map<string, Variable>): Promise<Map<string, StateArray>> => {
      const out = new Map<string, StateArray>();
      for (const name of Object.keys(this.params)) {
        const mv = src.get(name);
        if (!mv) continue;
        const data = await mv.data();
        out.set(name, { shape: mv.shape.slice(), data: Float32Array.from(data as ArrayLike<number>) });
      }
      return out;
    };
    return { step: this.t, m: await read(this.m), v: await read(this.v) };
  }

  /** Restores `exportState()` output (shapes are checked against the parameters). */
  importState(state: AdamWState): void {
    if (!Number.isInteger(state.step) || state.step < 0) throw new Error(`AdamW state: invalid step ${state.step}`);
    for (const [kind, src, dst] of [['m', state.m, this.m], ['v', state.v, this.v]] as const) {
      for (const [name, arr] of src) {
        const p = this.params[name];
        if (!p) throw new Error(`AdamW state: moment ${kind} for unknown parameter "${name}"`);
        if (arr.shape.length !== p.shape.length || arr.shape.some((d, i) => d !== p.shape[i])) {
          throw new Error(`AdamW state: moment ${kind} of "${name}" has shape [${arr.shape}], expected [${p.shape}]`);
        }
        const value = tf.tensor(arr.data, arr.shape, 'float32');
        const existing = dst.get(name);
        if (existing) existing.assign(value);
        else dst.set(name, tf.variable(value, false));
        value.dispose();
      }
    }
    this.t = state.step;
  }

  /** Frees the moment variables (not the parameters). */
  dispose(): void {
    for (const x of this.m.values()) x.dispose();
    for (const x of this.v.values()) x.dispose();
    this.m.clear();
    this.v.clear();
  }

  private moment(store: Map<string, Variable>, name: string, p: Variable): Variable {
    let x = store.get(name);
    if (!x) {
      x = tf.tidy(() => tf.variable(tf.zerosLike(p), false));
      store.set(name, x);
    }
    return x;
  }
}
