/**
 * The sweep's own record of its runs, `OUT/sweep-state.json`: how each run
 * ended (completed, stopped by its wall-clock budget, diverged, failed,
 * interrupted) with the numbers of the trainer's summary. It lives outside
 * the run directories, which the trainer replaces at every checkpoint.
 * Only the sweep process writes it, atomically, after each run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../pipeline/errors.ts';
import { writeFileAtomic } from '../util/atomic.ts';

export const SWEEP_STATE_FILE = 'sweep-state.json';

/**
 * How a run ended. `completed`, `budget` (wall-clock cap reached) and
 * `diverged` are final: rerunning the sweep skips them. `failed` and
 * `interrupted` runs are resumed (or restarted) by the next invocation.
 */
export type RunStatus = 'completed' | 'budget' | 'diverged' | 'failed' | 'interrupted';

export const FINAL_STATUSES: readonly RunStatus[] = ['completed', 'budget', 'diverged'];

/** What the sweep knows about one run. */
export interface RunRecord {
  status: RunStatus;
  /** Why it diverged or failed (one line). */
  reason: string | null;
  step: number;
  max_steps: number;
  tokens: number;
  elapsed_s: number;
  tokens_per_s: number;
  loss: number | null;
  val_loss: number | null;
  best_val_loss: number | null;
  best_step: number | null;
  /** Mean loss of the final weights on the whole val_data (final_eval), or null. */
  final_eval_loss: number | null;
  /** Peak resident memory of the last trainer process in MB (its summary's peak_rss_mb), or null. */
  peak_rss_mb?: number | null;
  /** Step the last invocation resumed from (null: started fresh). */
  resumed_from: number | null;
  /** ISO time of the record. */
  updated: string;
}

export interface SweepState {
  version: 1;
  runs: Record<string, RunRecord>;
}

/** Whether a run needs no more training. */
export function isFinal(record: RunRecord | undefined): boolean {
  return record !== undefined && FINAL_STATUSES.includes(record.status);
}

/** Reads OUT/sweep-state.json (an empty state when absent). */
export function readSweepState(out: string): SweepState {
  const p = join(out, SWEEP_STATE_FILE);
  if (!existsSync(p)) return { version: 1, runs: {} };
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(p, 'utf8'));
  } catch (e) {
    throw new UserError(`${p}: invalid JSON (${(e as Error).message.split('\n')[0]}); delete it to re-derive the sweep's progress from the run directories`);
  }
  const v = value as Partial<SweepState>;
  if (v === null || typeof v !== 'object' || v.version !== 1 || v.runs === null || typeof v.runs !== 'object') {
    throw new UserError(`${p}: not a sweep state (version 1); delete it to re-derive the sweep's progress from the run directories`);
  }
  return { version: 1, runs: { ...v.runs } };
}

/** Writes OUT/sweep-state.json atomically. */
export function writeSweepState(out: string, state: SweepState): void {
  writeFileAtomic(join(out, SWEEP_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}
