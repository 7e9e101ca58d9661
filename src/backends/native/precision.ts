/**
 * Matmul precision of the native backend: `fp32` (OpenBLAS sgemm, the
 * default) or `bf16` (operands rounded to bf16, products accumulated in
 * fp32, on oneDNN's matmul). The setting is process-wide and applies to
 * every BatchMatMul / _FusedMatMul the native backend runs — forward
 * products and both backward products — and to nothing else: weights,
 * gradients, AdamW state, softmax, RMSNorm, cross-entropy and the fused
 * attention kernel stay fp32, and every matmul result is fp32.
 *
 * oneDNN (libdnnl.so.2, Debian's libdnnl-dev) is loaded at run time on the
 * first call here, so the addon builds and loads without it; where it is
 * missing, or has no bf16 matmul on this CPU (oneDNN 2.x needs AVX-512),
 * `setMatmulPrecision('bf16')` leaves fp32 active and says why.
 *
 *   const s = bf16Support();                 // { available, reason, hardwareBf16, isa, impl, ... }
 *   const r = setMatmulPrecision('bf16');    // { precision: 'bf16' | 'fp32', reason }
 *
 * A train-config `precision: fp32 | bf16 | auto` would map `auto` to bf16
 * where `bf16Support()` has `available && hardwareBf16` (bf16 dot-product
 * instructions; elsewhere oneDNN emulates bf16 and is slower than sgemm).
 */
import { tryLoadNative } from './addon.ts';
import type { NativeAddon, NativeBf16ConvertIsa, NativeMatmulPrecision, NativePrecisionInfo } from './addon.ts';

export type { NativeMatmulPrecision as MatmulPrecision } from './addon.ts';

/** Whether the bf16 path can run here, and on what. */
export interface Bf16Support {
  /** oneDNN loaded and built a bf16 matmul on this CPU. */
  available: boolean;
  /** Why not (null when available): no native addon, built without oneDNN headers, libdnnl missing, no bf16 matmul for this CPU, blocked by a test. */
  reason: string | null;
  /** oneDNN's ISA has bf16 dot products (avx512_core_bf16, AMX): bf16 is then faster than fp32; without them oneDNN emulates. */
  hardwareBf16: boolean;
  /** oneDNN's effective CPU ISA (`dnnl_get_effective_cpu_isa`, lowered by ONEDNN_MAX_CPU_ISA), e.g. "avx512_core_bf16". */
  isa: string | null;
  /** oneDNN's implementation of a probe matmul (`dnnl_query_impl_info_str`), e.g. "brg:avx512_core_bf16". */
  impl: string | null;
  /** oneDNN's version, e.g. "2.6.3", and the library file loaded. */
  version: string | null;
  library: string | null;
}

/** The outcome of `setMatmulPrecision`. */
export interface PrecisionChoice {
  /** The precision now active. */
  precision: NativeMatmulPrecision;
  /** Why a bf16 request left fp32 active; null otherwise. */
  reason: string | null;
}

const NO_ADDON = 'the native addon is not available (npm run build:native)';

function addon(): NativeAddon | null {
  return tryLoadNative();
}

/** The full report of the addon (null without the addon): support, implementations seen, counters. */
export function precisionInfo(): NativePrecisionInfo | null {
  return addon()?.precisionInfo() ?? null;
}

/** Whether bf16 matmuls can run here; loads oneDNN on first call. */
export function bf16Support(): Bf16Support {
  const info = precisionInfo();
  if (!info) return { available: false, reason: NO_ADDON, hardwareBf16: false, isa: null, impl: null, version: null, library: null };
  return {
    available: info.available, reason: info.reason, hardwareBf16: info.hardwareBf16, isa: info.isa, impl: info.probeImpl,
    version: info.version, library: info.library,
  };
}

/** The precision the native backend's matmuls use now ('fp32' without the addon). */
export function matmulPrecision(): NativeMatmulPrecision {
  return addon()?.precisionInfo().precision ?? 'fp32';
}

/**
 * Makes `precision` the native backend's matmul precision (process-wide,
 * from the next matmul on). A bf16 request where bf16 is unavailable leaves
 * fp32 active and returns the reason; it never throws for that.
 */
export function setMatmulPrecision(precision: NativeMatmulPrecision): PrecisionChoice {
  const a = addon();
  if (!a) return { precision: 'fp32', reason: precision === 'bf16' ? NO_ADDON : null };
  const active = a.setPrecision(precision);
  return { precision: active, reason: active === precision ? null : a.precisionInfo().reason };
}

/** Runs `fn` with the matmul precision set to `precision`, then restores the previous one. */
export async function withMatmulPrecision<T>(precision: NativeMatmulPrecision, fn: (choice: PrecisionChoice) => Promise<T> | T): Promise<T> {
  const before = matmulPrecision();
  const choice = setMatmulPrecision(precision);
  try {
    return await fn(choice);
  } finally {
    setMatmulPrecision(before);
  }
}

/** The bf16 matmul counters since the last reset (thread-seconds summed over the pool's threads); null without the addon. */
export function bf16Stats(): NativePrecisionInfo['stats'] | null {
  return precisionInfo()?.stats ?? null;
}

export function resetBf16Stats(): void {
  addon()?.resetPrecisionStats();
}

/**
 * Test hook: while blocked, the bf16 path behaves as on a machine without
 * oneDNN (unavailable, requests stay fp32); blocking switches an active
 * bf16 back to fp32.
 */
export function setOnednnBlocked(blocked: boolean): void {
  addon()?.setOnednnBlocked(blocked);
}

/** Rounds float32 values to bf16 (nearest even) and back, exactly as the bf16 path converts operands. */
export function roundToBf16(x: Float32Array, variant?: NativeBf16ConvertIsa): Float32Array {
  const a = addon();
  if (!a) throw new Error(NO_ADDON);
  const out = new Float32Array(x.length);
  a.bf16Round(x, out, variant);
  return out;
}
