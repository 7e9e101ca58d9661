/**
 * Divergence detection (pure): a run has diverged when a logged loss is not
 * finite, or when the mean of its last `window` training losses rises above
 * the threshold — `max_loss` when configured, else the first step's loss
 * (≈ ln vocab_size for a fresh model) plus `margin`. Averaging a window
 * keeps a single noisy step from ending a run that would recover.
 */
import type { MetricsRecord } from '../train/metrics.ts';
import type { DivergenceRule } from './sweep-file.ts';

/** Why a run counts as diverged. */
export interface DivergenceVerdict {
  step: number;
  reason: string;
}

/** The loss above which a run counts as diverged, or null before the first record. */
export function divergenceThreshold(records: readonly MetricsRecord[], rule: DivergenceRule): number | null {
  if (rule.max_loss !== null) return rule.max_loss;
  if (records.length === 0) return null;
  return records[0].loss + rule.margin;
}

/**
 * The first point where `records` (in step order) show divergence, or null.
 * Scans every window, so a run that blew up and then stopped is still caught.
 * With `finished`, a run shorter than the window is judged on all its steps.
 */
export function detectDivergence(records: readonly MetricsRecord[], rule: DivergenceRule, finished = false): DivergenceVerdict | null {
  const threshold = divergenceThreshold(records, rule);
  if (threshold === null) return null;
  const w = Math.max(1, finished ? Math.min(rule.window, records.length) : rule.window);
  let sum = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (!Number.isFinite(r.loss)) return { step: r.step, reason: `non-finite training loss at step ${r.step}` };
    if (r.val_loss !== undefined && !Number.isFinite(r.val_loss)) return { step: r.step, reason: `non-finite validation loss at step ${r.step}` };
    sum += r.loss;
    if (i >= w) sum -= records[i - w].loss;
    const n = Math.min(i + 1, w);
    if (i + 1 >= w && sum / n > threshold) {
      const what = rule.max_loss !== null ? `max_loss ${rule.max_loss}` : `the first loss ${records[0].loss.toFixed(3)} + margin ${rule.margin}`;
      return { step: r.step, reason: `mean training loss ${(sum / n).toFixed(3)} over steps ${records[i - n + 1].step}-${r.step} exceeds ${what}` };
    }
  }
  return null;
}
