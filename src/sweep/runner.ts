/**
 * Running a planned sweep: one trainer child process per run (at most
 * `parallel` at once), resumable at every level — a run the sweep state
 * marks final is skipped, a run with a checkpoint is continued with the
 * trainer's `--resume` (inside what is left of its wall-clock budget), a
 * run without one starts afresh. Divergence stops a run and marks it
 * instead of failing the sweep; so does a non-finite loss, which the
 * trainer reports by exiting with an error.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../pipeline/errors.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { STATE_FILE } from '../train/checkpoint.ts';
import type { TrainState } from '../train/checkpoint.ts';
import { METRICS_FILE, parseMetrics } from '../train/metrics.ts';
import type { MetricsRecord } from '../train/metrics.ts';
import { checkpointStep } from '../train/run.ts';
import { TRAIN_CONFIG_FILE } from '../train/train-config.ts';
import { detectDivergence } from './divergence.ts';
import { configDrift } from './plan.ts';
import type { PlannedRun, SweepPlan } from './plan.ts';
import { isFinal, readSweepState, writeSweepState } from './state.ts';
import type { RunRecord, RunStatus, SweepState } from './state.ts';
import { runPipelineChild } from './trainer-process.ts';

/** What happened to a run in this invocation. */
export type RunAction = 'skipped' | 'started' | 'resumed' | 'evaluated';

export interface RunOutcome {
  name: string;
  action: RunAction;
  record: RunRecord;
}

export interface SweepHooks {
  log?(message: string): void;
  /** Stops the sweep: running trainers checkpoint and exit, no new run starts. */
  signal?: AbortSignal;
  /** The latest metrics record of a running run (polled). */
  onProgress?(run: PlannedRun, latest: MetricsRecord): void;
  onRunEnd?(run: PlannedRun, outcome: RunOutcome): void;
}

export interface SweepResult {
  outcomes: RunOutcome[];
  interrupted: boolean;
  state: SweepState;
}

/** Reads a run's metrics (empty when it has none yet). */
export function readRunMetrics(dir: string): MetricsRecord[] {
  const p = join(dir, METRICS_FILE);
  return existsSync(p) ? parseMetrics(readFileSync(p, 'utf8'), p) : [];
}

function readTrainState(dir: string): TrainState | null {
  const p = join(dir, STATE_FILE);
  if (!existsSync(p)) return null;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as TrainState;
  } catch {
    return null;
  }
}

/** A run record from what is on disk: the metrics log (every logged step) and the last checkpoint's state. */
export function recordFromDisk(run: PlannedRun, status: RunStatus, reason: string | null, resumedFrom: number | null): RunRecord {
  const records = readRunMetrics(run.dir);
  const last = records[records.length - 1];
  let valLoss: number | null = null;
  let best: number | null = null;
  let bestStep: number | null = null;
  for (const r of records) {
    if (r.val_loss === undefined || !Number.isFinite(r.val_loss)) continue;
    valLoss = r.val_loss;
    if (best === null || r.val_loss < best) { best = r.val_loss; bestStep = r.step; }
  }
  const elapsed = last?.elapsed_s ?? readTrainState(run.dir)?.elapsed_s ?? 0;
  const tokens = last?.tokens ?? 0;
  return {
    status,
    reason,
    step: last?.step ?? 0,
    max_steps: run.config.max_steps,
    tokens,
    elapsed_s: elapsed,
    tokens_per_s: elapsed > 0 ? tokens / elapsed : 0,
    loss: last?.loss ?? null,
    val_loss: valLoss,
    best_val_loss: best,
    best_step: bestStep,
    final_eval_loss: null,
    resumed_from: resumedFrom,
    updated: new Date().toISOString(),
  };
}

/**
 * Checks, before anything runs, that every run directory already present
 * was trained with the config the sweep file now gives it.
 */
export function checkDrift(plan: SweepPlan): void {
  for (const run of plan.runs) {
    const p = join(run.dir, TRAIN_CONFIG_FILE);
    if (!existsSync(p)) continue;
    let stored: Record<string, unknown>;
    try {
      stored = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
    } catch {
      continue; // unreadable: the trainer will say so on resume
    }
    const drift = configDrift(stored, run.config);
    if (drift !== null) {
      throw new UserError(`${plan.source}: run "${run.name}": ${drift}; ${run.dir} holds the old run: delete that directory to rerun it, or restore the sweep file`);
    }
  }
}

/** Threads per trainer so that `parallel` trainers share the cores. */
export function threadsPerRun(parallel: number): number {
  return Math.max(1, Math.floor(availableParallelism() / parallel));
}

interface Ctx {
  plan: SweepPlan;
  state: SweepState;
  hooks: SweepHooks;
  log(m: string): void;
  env: NodeJS.ProcessEnv;
}

function save(ctx: Ctx, name: string, record: RunRecord): void {
  ctx.state.runs[name] = record;
  writeSweepState(ctx.plan.out, ctx.state);
}

/** Mean loss of the run's final weights on the whole validation file, or null (with a log line) when eval fails. */
async function finalEval(ctx: Ctx, run: PlannedRun): Promise<number | null> {
  if (!ctx.plan.spec.final_eval || run.config.val_data === null) return null;
  const outcome = await runPipelineChild('eval', [
    '--checkpoint', run.dir, '--data', run.config.val_data, '--backend', run.config.backend,
    '--batch-size', String(run.config.batch_size), '--quiet',
  ], { logPath: join(ctx.plan.out, 'logs', `${run.name}.log`), env: ctx.env, signal: ctx.hooks.signal });
  const loss = outcome.summary?.loss;
  if (outcome.code === 0 && typeof loss === 'number') return loss;
  if (!ctx.hooks.signal?.aborted) ctx.log(`${run.name}: final evaluation failed (${outcome.error ?? `exit ${outcome.code}`}); see ${join(ctx.plan.out, 'logs', `${run.name}.log`)}`);
  return null;
}

function statusOf(summaryStopped: unknown): RunStatus {
  if (summaryStopped === 'completed') return 'completed';
  if (summaryStopped === 'max_minutes') return 'budget';
  return 'interrupted';
}

/** Trains (or skips, or resumes) one run and records the outcome. */
async function executeRun(ctx: Ctx, run: PlannedRun): Promise<RunOutcome> {
  const { plan, state, hooks } = ctx;
  const previous = state.runs[run.name];
  const rule = plan.spec.divergence;
  if (isFinal(previous)) {
    const wantsEval = previous.status !== 'diverged' && previous.final_eval_loss === null && plan.spec.final_eval && run.config.val_data !== null;
    if (!wantsEval) return { name: run.name, action: 'skipped', record: previous };
    const loss = await finalEval(ctx, run);
    const record = { ...previous, final_eval_loss: loss };
    save(ctx, run.name, record);
    return { name: run.name, action: 'evaluated', record };
  }

  const checkpoint = checkpointStep(run.dir);
  let args: string[];
  let action: RunAction;
  if (checkpoint === null) {
    // Nothing resumable (a run stopped before its first checkpoint): start afresh.
    if (existsSync(run.dir)) rmSync(run.dir, { recursive: true, force: true });
    writeFileAtomic(run.configPath, `${JSON.stringify(run.raw, null, 2)}\n`);
    args = ['--config', run.configPath];
    action = 'started';
  } else {
    const already = detectDivergence(readRunMetrics(run.dir), rule);
    if (already) {
      const record = recordFromDisk(run, 'diverged', already.reason, null);
      save(ctx, run.name, record);
      return { name: run.name, action: 'skipped', record };
    }
    args = ['--resume', run.dir, '--backend', run.config.backend];
    if (run.config.max_minutes !== null) {
      const spent = readTrainState(run.dir)?.elapsed_s ?? 0;
      const left = run.config.max_minutes * 60 - spent;
      if (left <= 1) {
        const record = recordFromDisk(run, 'budget', null, null);
        record.final_eval_loss = await finalEval(ctx, run);
        save(ctx, run.name, record);
        return { name: run.name, action: 'skipped', record };
      }
      args.push('--max-minutes', String(left / 60));
    }
    action = 'resumed';
  }
  ctx.log(`${run.name}: ${action === 'started' ? 'start' : `resume from step ${checkpoint}`} (${run.config.max_steps} steps${run.config.max_minutes !== null ? `, at most ${run.config.max_minutes} min` : ''})`);

  const outcome = await runPipelineChild('train', args, {
    logPath: join(plan.out, 'logs', `${run.name}.log`),
    env: ctx.env,
    signal: hooks.signal,
    watch: {
      metricsPath: join(run.dir, METRICS_FILE),
      check: (records) => {
        if (records.length > 0) hooks.onProgress?.(run, records[records.length - 1]);
        return detectDivergence(records, rule)?.reason ?? null;
      },
    },
  });

  const resumedFrom = action === 'resumed' ? checkpoint : null;
  let status: RunStatus;
  let reason: string | null = null;
  if (outcome.stoppedBecause !== null) {
    status = 'diverged';
    reason = outcome.stoppedBecause;
  } else if (outcome.code === 0 || (outcome.code !== null && [130, 143].includes(outcome.code) && outcome.summary?.stopped === 'interrupted')) {
    // 130/143 with a summary: the trainer stopped cleanly on a signal and checkpointed.
    status = statusOf(outcome.summary?.stopped);
    if (status !== 'interrupted') {
      const verdict = detectDivergence(readRunMetrics(run.dir), rule, true);
      if (verdict) { status = 'diverged'; reason = verdict.reason; }
    }
  } else if (outcome.error !== null && /non-finite/.test(outcome.error)) {
    status = 'diverged';
    reason = outcome.error.replace(/^train: error: /, '');
  } else if (hooks.signal?.aborted) {
    status = 'interrupted';
  } else {
    status = 'failed';
    reason = outcome.error ?? `exit code ${outcome.code ?? outcome.signal}`;
  }
  const record = recordFromDisk(run, status, reason, resumedFrom);
  const rss = outcome.summary?.peak_rss_mb;
  record.peak_rss_mb = typeof rss === 'number' ? rss : null;
  if ((status === 'completed' || status === 'budget') && !hooks.signal?.aborted) record.final_eval_loss = await finalEval(ctx, run);
  save(ctx, run.name, record);
  return { name: run.name, action, record };
}

/**
 * Runs every run of the plan (skipping final ones), `plan.parallel` at a
 * time, updating OUT/sweep-state.json after each. Resolves when all are
 * done or, after an abort, when the running trainers have checkpointed.
 */
export async function runSweep(plan: SweepPlan, hooks: SweepHooks = {}): Promise<SweepResult> {
  checkDrift(plan);
  const state = readSweepState(plan.out);
  const log = hooks.log ?? (() => {});
  const env: NodeJS.ProcessEnv = {};
  if (process.env.LMPIPE_NATIVE_THREADS === undefined) env.LMPIPE_NATIVE_THREADS = String(threadsPerRun(plan.parallel));
  const ctx: Ctx = { plan, state, hooks, log, env };
  const queue = [...plan.runs];
  const outcomes = new Map<string, RunOutcome>();
  const worker = async (): Promise<void> => {
    for (;;) {
      if (hooks.signal?.aborted) return;
      const run = queue.shift();
      if (run === undefined) return;
      const outcome = await executeRun(ctx, run);
      outcomes.set(run.name, outcome);
      hooks.onRunEnd?.(run, outcome);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(plan.parallel, plan.runs.length)) }, worker));
  return {
    outcomes: plan.runs.map((r) => outcomes.get(r.name)).filter((o): o is RunOutcome => o !== undefined),
    interrupted: hooks.signal?.aborted === true,
    state,
  };
}
