/**
 * Seeded pseudo-random numbers for everything that must be reproducible
 * (weight initialization, dropout seeds, batch sampling).
 *
 * Generator: xoshiro128** (Blackman & Vigna), 128 bits of state held as four
 * uint32 words, period 2^128 - 1. It is fast with 32-bit integer math
 * (`Math.imul`) and its whole state is four numbers, so a training run can
 * save `rng.state()` in a checkpoint and resume the exact stream with
 * `Rng.fromState(...)`.
 *
 * Seeding: the (integer) seed is expanded to the four state words with
 * splitmix32, which never yields the forbidden all-zero state in practice
 * (an all-zero result is replaced explicitly).
 */

/** JSON-serializable generator state. */
export interface RngState {
  algorithm: 'xoshiro128**';
  s: [number, number, number, number];
}

const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** splitmix32 step: returns [next state, output]. */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  z ^= z >>> 15;
  return [next, z >>> 0];
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /**
   * Seeds the generator from a non-negative safe integer (< 2^53); the high
   * and low 32-bit halves both feed the state.
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new RangeError(`Rng seed must be a non-negative safe integer, got ${seed}`);
    }
    const lo = seed % TWO_POW_32;
    const hi = Math.floor(seed / TWO_POW_32);
    let st = (lo ^ Math.imul(hi, 0x85ebca6b)) | 0;
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [next, out] = splitmix32(st);
      st = next;
      words.push(out);
    }
    if ((words[0] | words[1] | words[2] | words[3]) === 0) words[0] = 1;
    this.s0 = words[0] | 0;
    this.s1 = words[1] | 0;
    this.s2 = words[2] | 0;
    this.s3 = words[3] | 0;
  }

  /** Restores a generator from `state()` output (validated). */
  static fromState(state: RngState): Rng {
    if (state === null || typeof state !== 'object' || state.algorithm !== 'xoshiro128**'
      || !Array.isArray(state.s) || state.s.length !== 4
      || !state.s.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_POW_32)) {
      throw new RangeError('invalid RngState: expected {algorithm: "xoshiro128**", s: [4 uint32 words]}');
    }
    if (state.s.every((w) => w === 0)) throw new RangeError('invalid RngState: all-zero state');
    const r = new Rng(0);
    r.s0 = state.s[0] | 0;
    r.s1 = state.s[1] | 0;
    r.s2 = state.s[2] | 0;
    r.s3 = state.s[3] | 0;
    return r;
  }

  /** The current state (a copy); feeding it to `fromState` continues the same stream. */
  state(): RngState {
    return { algorithm: 'xoshiro128**', s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0] };
  }

  /** An independent copy at the same position. */
  clone(): Rng {
    return Rng.fromState(this.state());
  }

  /** Next uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9);
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result >>> 0;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    const a = this.nextUint32() >>> 5; // 27 bits
    const b = this.nextUint32() >>> 6; // 26 bits
    return (a * 67108864 + b) / TWO_POW_53;
  }

  /** Uniform integer in [0, n), unbiased (rejection), for 1 <= n <= 2^32. */
  intBelow(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new RangeError(`intBelow needs an integer in [1, 2^32], got ${n}`);
    }
    const limit = TWO_POW_32 - (TWO_POW_32 % n); // largest multiple of n <= 2^32
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Standard normal draw (Box-Muller, cosine branch only, so no hidden state). */
  normal(): number {
    const u1 = 1 - this.uniform(); // (0, 1]
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /**
   * Normal(mean, std²) truncated to [lo, hi] by rejection (the handout's
   * truncation at ±3σ accepts 99.7% of draws, so this is cheap).
   */
  truncatedNormal(mean: number, std: number, lo: number, hi: number): number {
    if (!(lo < hi)) throw new RangeError(`truncatedNormal needs lo < hi, got [${lo}, ${hi}]`);
    if (!(std > 0)) return Math.min(hi, Math.max(lo, mean));
    for (let i = 0; i < 1_000_000; i++) {
      const x = mean + std * this.normal();
      if (x >= lo && x <= hi) return x;
    }
    throw new RangeError(`truncatedNormal: interval [${lo}, ${hi}] is too far from the mean ${mean}`);
  }

  /** Fills `out` with truncated normal draws (see `truncatedNormal`). */
  fillTruncatedNormal(out: Float32Array, mean: number, std: number, lo: number, hi: number): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.truncatedNormal(mean, std, lo, hi);
    return out;
  }
}
