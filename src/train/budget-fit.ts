/**
 * Leaderboard mode (`fit_to_budget`): sizes a run so that its cosine
 * learning-rate schedule ends when the wall-clock budget does. The run is
 * timed over the second half of its warm-up, where the learning rate does
 * not depend on the run length; max_steps (then only a cap) is set to what
 * the remaining budget fits, and refined every 5% of the run from the step
 * and evaluation times measured since the warm-up. A refinement is applied
 * (and logged) only when it is significant, with hysteresis, so that noise
 * in the measured pace cannot make the length flap (116 → 119 → 116 → …).
 * The trainer feeds it step and evaluation times and applies the lengths it
 * returns.
 */
import type { TrainConfig } from './train-config.ts';

/** Evaluating one batch costs about this fraction of a training step (forward only, no optimizer). */
const EVAL_STEP_COST = 0.4;
/** A fitted run aims at this fraction of the remaining budget (pace varies on a shared machine). */
const FIT_MARGIN = 0.95;
/** Refine the length every this fraction of the run (at least every 5 steps). */
const REFIT_EVERY = 0.05;
/** A refinement must change the length by more than this fraction of it... */
const REFIT_MIN_FRACTION = 0.02;
/** ...and by at least this many steps. */
const REFIT_MIN_STEPS = 2;
/** A refinement that reverses the last applied one must clear this many times the threshold. */
const REFIT_REVERSAL_FACTOR = 2;

/**
 * Whether a refinement from `before` to `fitted` steps is worth applying:
 * more than 2% and at least 2 steps, or twice that when it goes back the
 * other way from the last applied change (`lastChange`, 0: none yet).
 */
export function significantRefit(before: number, fitted: number, lastChange: number): boolean {
  const change = fitted - before;
  const reverses = lastChange !== 0 && Math.sign(change) === -Math.sign(lastChange);
  const factor = reverses ? REFIT_REVERSAL_FACTOR : 1;
  return Math.abs(change) > factor * REFIT_MIN_FRACTION * before && Math.abs(change) >= factor * REFIT_MIN_STEPS;
}

/**
 * The run length that ends within the remaining budget at the measured pace,
 * counting periodic evaluation (`evalSeconds`: the measured cost of one
 * evaluation, else estimated from eval_batches); capped by the configured
 * max_steps, and never before the current step or the end of the warm-up.
 */
export function fittedSteps(config: TrainConfig, step: number, secondsPerStep: number, remainingS: number, evaluates: boolean, evalSeconds: number | null = null): number {
  const evalShare = !evaluates ? 0
    : evalSeconds !== null ? evalSeconds / config.eval_interval / secondsPerStep
      : (EVAL_STEP_COST * config.eval_batches) / config.eval_interval;
  const more = Math.floor((FIT_MARGIN * Math.max(0, remainingS)) / (secondsPerStep * (1 + evalShare)));
  return Math.max(step, Math.min(config.max_steps, step + more), config.warmup_steps);
}

/** A new run length from `BudgetFitter.stepDone`, with its line for the log. */
export interface Refit {
  maxSteps: number;
  message: string;
}

/** Times a run and fits its length to the budget; one per training session. */
export class BudgetFitter {
  /** Steps timed for the first fit: the second half of this session's warm-up, never its first step. */
  readonly firstTimed: number;
  readonly lastTimed: number;
  private readonly cap: number;
  private timer: { since: number; evalSeconds: number; evals: number; steps: number } | null = null;
  private refitAt: number | null = null;
  /** The last applied refinement (new length − old), for the hysteresis; 0 before any. */
  private lastChange = 0;

  /**
   * For a session starting after `startStep`; null when the warm-up is
   * (nearly) over, so no step is left to time before the schedule starts to
   * depend on the run length.
   */
  static plan(config: TrainConfig, startStep: number): BudgetFitter | null {
    const lastTimed = config.warmup_steps;
    const firstTimed = Math.max(startStep + 2, startStep + Math.floor((lastTimed - startStep) / 2) + 1);
    return lastTimed >= firstTimed ? new BudgetFitter(firstTimed, lastTimed, config.max_steps) : null;
  }

  private constructor(firstTimed: number, lastTimed: number, cap: number) {
    this.firstTimed = firstTimed;
    this.lastTimed = lastTimed;
    this.cap = cap;
  }

  /** Call as step `step` starts (after its batch is sampled). */
  stepStarted(step: number, now: number): void {
    if (step === this.firstTimed) this.timer = { since: now, evalSeconds: 0, evals: 0, steps: 0 };
  }

  /** Call after an evaluation that took `seconds`. */
  evaluated(seconds: number): void {
    if (!this.timer) return;
    this.timer.evalSeconds += seconds;
    this.timer.evals += 1;
  }

  /**
   * Call when step `step` is done (evaluation included). Returns the new run
   * length when this step fits it or refines it significantly (see
   * `significantRefit`), else null.
   */
  stepDone(step: number, now: number, config: TrainConfig, remainingS: number, evaluates: boolean): Refit | null {
    const t = this.timer;
    if (!t) return null;
    t.steps += 1;
    const first = step === this.lastTimed;
    if (!first && !(step === this.refitAt && step < config.max_steps)) return null;
    const secondsPerStep = ((now - t.since) / 1000 - t.evalSeconds) / t.steps;
    const evalCost = t.evals > 0 ? t.evalSeconds / t.evals : null;
    const fitted = fittedSteps({ ...config, max_steps: this.cap }, step, secondsPerStep, remainingS, evaluates, evalCost);
    this.refitAt = step + Math.max(5, Math.round(REFIT_EVERY * fitted));
    if (first) {
      this.timer = { since: now, evalSeconds: 0, evals: 0, steps: 0 };
      return {
        maxSteps: fitted,
        message: `fitted the run to the ${config.max_minutes}-minute budget: ${fitted} steps at ${secondsPerStep.toFixed(3)} s/step (timed over steps ${this.firstTimed}–${this.lastTimed}); the cosine schedule now ends at step ${fitted}, refined every 5% of the run`,
      };
    }
    const before = config.max_steps;
    if (!significantRefit(before, fitted, this.lastChange)) return null;
    this.lastChange = fitted - before;
    return {
      maxSteps: fitted,
      message: `step ${step}: ${secondsPerStep.toFixed(3)} s/step since the warm-up; run length ${before} → ${fitted} steps`,
    };
  }
}
