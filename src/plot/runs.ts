/**
 * Locating the runs to plot: a run directory (its metrics.jsonl) or a
 * metrics file given directly; labels default to the directory name,
 * made unique when two runs share one.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../pipeline/errors.ts';
import { METRICS_FILE, readMetrics } from '../train/metrics.ts';
import type { RunCurves } from './learning-curves.ts';

/** The metrics file of a run argument (directory or file). */
export function metricsPathOf(run: string): string {
  if (!existsSync(run)) throw new UserError(`run ${run} not found; pass a run directory written by pipelines/train.ts (holding ${METRICS_FILE})`);
  return statSync(run).isDirectory() ? join(run, METRICS_FILE) : run;
}

/** Default label: the run directory's name (the parent's for a metrics file). */
export function defaultLabel(run: string): string {
  const abs = resolve(run);
  const isFile = existsSync(abs) && statSync(abs).isFile();
  return basename(isFile ? dirname(abs) : abs);
}

/** Makes labels unique by suffixing #2, #3, … to repeats. */
export function uniqueLabels(labels: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return labels.map((l) => {
    const n = (seen.get(l) ?? 0) + 1;
    seen.set(l, n);
    return n === 1 ? l : `${l} #${n}`;
  });
}

/** Loads every run (labels from `names` where given). Runs without records are an error. */
export function loadRuns(runs: readonly string[], names: readonly string[] = []): RunCurves[] {
  if (names.length > runs.length) throw new UserError(`${names.length} --name values for ${runs.length} runs; give at most one name per run`);
  const labels = uniqueLabels(runs.map((r, i) => names[i] ?? defaultLabel(r)));
  return runs.map((r, i) => {
    const path = metricsPathOf(r);
    const records = readMetrics(path);
    if (records.length === 0) throw new UserError(`${path} has no records yet; train a few steps first`);
    return { name: labels[i], records };
  });
}
