/**
 * The `precision` setting of train, eval and generate: which precision the
 * native backend's matmuls run in (src/backends/native/precision.ts).
 *
 * - `fp32` (the default): OpenBLAS sgemm, every exactness result as before;
 * - `bf16`: bf16 operands, fp32 accumulation, on oneDNN; refused with a
 *   one-line UserError (reason and fix) where it cannot run: not the native
 *   backend, no oneDNN, or no bf16 matmul for this CPU;
 * - `auto`: bf16 where the CPU multiplies bf16 natively (`bf16Support()`
 *   has `available && hardwareBf16`) on the native backend, fp32 elsewhere.
 *
 * The precision is process-wide: `applyPrecision` sets it for one run and
 * returns the function that restores fp32 when the run ends.
 */
import { UserError } from '../pipeline/errors.ts';
import { bf16Stats, bf16Support, precisionInfo, resetBf16Stats, setMatmulPrecision } from '../backends/native/precision.ts';
import type { MatmulPrecision } from '../backends/native/precision.ts';
import type { StringOption } from '../pipeline/define.ts';

export const PRECISION_SETTINGS = ['fp32', 'bf16', 'auto'] as const;

/** A requested precision: `auto` is resolved per backend and CPU. */
export type PrecisionSetting = (typeof PRECISION_SETTINGS)[number];

/** The backend whose matmuls have a bf16 path. */
const BF16_BACKEND = 'native';

/** `--precision` for eval and generate (train's flag comes from its config schema). */
export const precisionOption = {
  type: 'string', choices: PRECISION_SETTINGS, default: 'fp32', placeholder: 'P',
  description: 'matmul precision on the native backend: fp32, bf16 (bf16 operands, fp32 accumulation; oneDNN) or auto (bf16 where the CPU has bf16 instructions)',
} as const satisfies StringOption;

/** A setting resolved for one backend on this machine. */
export interface ResolvedPrecision {
  setting: PrecisionSetting;
  /** The precision the matmuls run in. */
  precision: MatmulPrecision;
  /** Why `auto` chose fp32, or that an explicit bf16 is emulated (slower than fp32); null otherwise. */
  note: string | null;
}

/**
 * Resolves `setting` for `backend` (its registry name). An explicit bf16
 * that cannot run is a UserError naming `what` (e.g. `--precision`).
 */
export function resolvePrecision(setting: PrecisionSetting, backend: string, what = '--precision'): ResolvedPrecision {
  if (setting === 'fp32') return { setting, precision: 'fp32', note: null };
  if (backend !== BF16_BACKEND) {
    const why = `the ${backend} backend has no bf16 matmuls (only the native backend does)`;
    if (setting === 'auto') return { setting, precision: 'fp32', note: why };
    throw new UserError(`${what} bf16: ${why}; use --backend native, or ${what} fp32`);
  }
  const s = bf16Support();
  if (!s.available) {
    const why = `bf16 matmuls are unavailable: ${s.reason ?? 'unknown reason'}`;
    if (setting === 'auto') return { setting, precision: 'fp32', note: why };
    throw new UserError(`${what} bf16: ${why}; bf16 needs oneDNN (apt-get install libdnnl-dev, then npm run build:native) on an AVX-512 CPU, or use ${what} fp32`);
  }
  if (!s.hardwareBf16) {
    const why = `oneDNN's ISA ${s.isa ?? '?'} has no bf16 instructions, so bf16 is emulated (slower than fp32)`;
    return setting === 'auto' ? { setting, precision: 'fp32', note: why } : { setting, precision: 'bf16', note: why };
  }
  return { setting, precision: 'bf16', note: null };
}

/**
 * Makes `r` the process-wide matmul precision and resets the bf16
 * counters; returns the function that restores fp32 (call it when the run
 * ends, also on errors).
 */
export function applyPrecision(r: ResolvedPrecision, what = '--precision'): () => void {
  if (r.precision === 'fp32') {
    setMatmulPrecision('fp32');
    return () => {};
  }
  const choice = setMatmulPrecision('bf16');
  if (choice.precision !== 'bf16') throw new UserError(`${what} bf16: bf16 matmuls are unavailable: ${choice.reason ?? 'unknown reason'}; use ${what} fp32`);
  resetBf16Stats();
  return () => { setMatmulPrecision('fp32'); };
}

/** What a run reports about its precision (summary JSON). */
export interface PrecisionReport {
  /** The setting requested (fp32, bf16, auto). */
  setting: PrecisionSetting;
  /** The precision the matmuls ran in. */
  precision: MatmulPrecision;
  /** Why auto chose fp32, or that bf16 is emulated; null otherwise. */
  note: string | null;
  /** bf16 only: oneDNN's version, effective ISA and the implementations of its matmul primitives. */
  onednn?: { version: string | null; isa: string | null; impls: string[] };
  /** bf16 only: matmul calls in bf16, and those that ran in fp32 instead (with the last reason). */
  bf16_calls?: number;
  fallbacks?: number;
  last_error?: string | null;
}

/** The report of `r` after (or during) a run: with bf16, oneDNN's ISA/implementations and the fallback counters. */
export function precisionReport(r: ResolvedPrecision): PrecisionReport {
  const base: PrecisionReport = { setting: r.setting, precision: r.precision, note: r.note };
  if (r.precision !== 'bf16') return base;
  const info = precisionInfo();
  const stats = bf16Stats();
  const impls = info && info.impls.length > 0 ? info.impls : info?.probeImpl ? [info.probeImpl] : [];
  return {
    ...base,
    onednn: { version: info?.version ?? null, isa: info?.isa ?? null, impls },
    bf16_calls: stats?.calls ?? 0, fallbacks: stats?.fallbacks ?? 0, last_error: stats?.lastError ?? null,
  };
}

/** The precision in words for a run's first line, e.g. "matmuls bf16 (oneDNN 2.6.3, avx512_core_bf16, brg:avx512_core_bf16)". */
export function precisionLine(r: ResolvedPrecision): string {
  const auto = r.setting === 'auto' ? ', auto' : '';
  if (r.precision === 'fp32') return `matmuls fp32${r.note ? ` (${r.setting === 'auto' ? 'auto: ' : ''}${r.note})` : ''}`;
  const s = bf16Support();
  const details = [`oneDNN ${s.version ?? '?'}`, s.isa ?? '?', s.impl ?? '?'].join(', ');
  return `matmuls bf16 with fp32 accumulation (${details}${auto})${r.note ? `; warning: ${r.note}` : ''}`;
}

/** A warning when bf16 matmuls ran in fp32 instead (fallbacks > 0), else null. */
export function fallbackWarning(report: PrecisionReport): string | null {
  if (report.precision !== 'bf16' || !report.fallbacks) return null;
  return `${report.fallbacks} of ${report.bf16_calls ?? '?'} bf16 matmuls fell back to fp32${report.last_error ? ` (last: ${report.last_error})` : ''}`;
}
