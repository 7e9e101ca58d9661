/**
 * What every lmpipe backend provides, so that `selectBackend` (select.ts)
 * can treat them alike and `auto` can walk the registry (registry.ts) in
 * order. A backend lives in its own folder, `src/backends/<folder>/`, whose
 * `backend.ts` exports one or more `Backend` objects.
 *
 * Life cycle: `probe` says whether the backend can run here (cheaply where
 * possible; it may load the backend's packages), then `activate` makes it
 * tfjs's active backend and hands back what the model and the trainer need.
 * `selectBackend` calls `activate` only after a probe reported it available.
 */
import type { ModelOps } from '../model/ops.ts';
import type { AdamWUpdateFn } from '../train/adamw.ts';

/** The answer of `probe`: available, or a one-line reason why not (naming the fix). */
export type ProbeResult = { available: true } | { available: false; reason: string };

/** How a backend is being probed. */
export interface ProbeOptions {
  /**
   * True when `auto` is walking the registry: a backend may be stricter then
   * (webgpu accepts only a real GPU, never a software rasteriser).
   */
  auto: boolean;
}

/** What the model and the trainer need from the backend just activated. */
export interface BackendRuntime {
  /** Entries of the model's primitive table (`src/model/ops.ts`) to replace; the rest stay the plain ops. */
  ops: Readonly<Partial<ModelOps>>;
  /** AdamW's per-parameter update (a fused one-pass kernel, or `plainAdamWUpdate`). */
  adamwUpdate: AdamWUpdateFn;
}

/** Facts about a backend for summaries and benchmark reports (flat, JSON-friendly). */
export type BackendFacts = Readonly<Record<string, string | number | boolean | null>>;

/** One backend choice of `--backend`. `N` is its name as a literal type. */
export interface Backend<N extends string = string> {
  /** The `--backend` name. */
  readonly name: N;
  /** Whether `auto` may choose it (in registry order). */
  readonly auto: boolean;
  /**
   * When `auto` skips it, warn once on stderr, `lmpipe: warning: <reason>;
   * <skipWarning>`, because the user most likely expected it (native: the
   * addon is not built, and training is much slower without it).
   */
  readonly skipWarning?: string;
  /** Whether it can run here; never throws for an expected absence (a missing package, driver, build). */
  probe(options: ProbeOptions): Promise<ProbeResult>;
  /** Makes it tfjs's active backend; throws a UserError naming the fix if that fails. */
  activate(): Promise<BackendRuntime>;
  /** Facts about it as activated (before `activate`: what is known so far, possibly nothing). */
  info(): BackendFacts;
}

/** The probe result of an available backend. */
export const AVAILABLE: ProbeResult = Object.freeze({ available: true });

/** The probe result of an unavailable backend. */
export function unavailable(reason: string): ProbeResult {
  return { available: false, reason };
}
