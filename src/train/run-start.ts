/**
 * What a training run finds in its directory OUT before the first step, and
 * what it may do with it:
 *
 * - nothing (missing or empty): a fresh run;
 * - a checkpoint (state.json): --resume continues it; a fresh run is refused;
 * - only what a run writes before its first checkpoint (train-config.json,
 *   metrics.jsonl, best/): the run was killed early. A fresh run, or
 *   --resume (with the stored config), starts it again from step 0, and
 *   says so; the early metrics and best/ are removed so they do not mix
 *   with the new run's;
 * - anything else: refused, OUT is not a run directory.
 *
 * The output guard runs first: OUT must not be or contain train_data or
 * val_data, and stale temporaries of killed saves next to it are removed.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../pipeline/errors.ts';
import { guardOutputs, listSome, visibleEntries } from '../util/output-guard.ts';
import { STATE_FILE } from './checkpoint.ts';
import { METRICS_FILE } from './metrics.ts';
import type { TrainConfig } from './train-config.ts';

/** Entries a run writes before its first checkpoint (train-config.json is train-config.ts's TRAIN_CONFIG_FILE). */
export const PRE_CHECKPOINT_ENTRIES: readonly string[] = ['train-config.json', METRICS_FILE, 'best'];

/** What a run directory holds. */
export type RunDirState =
  | { kind: 'new' }
  | { kind: 'checkpoint'; step: number | null }
  | { kind: 'pre-checkpoint'; entries: string[]; loggedSteps: number }
  | { kind: 'other'; entries: string[] };

/** Classifies run directory `out` (see the module doc); lmpipe's own temporaries are ignored. */
export function runDirState(out: string): RunDirState {
  const entries = visibleEntries(out);
  if (entries.length === 0) return { kind: 'new' };
  if (entries.includes(STATE_FILE)) {
    let step: number | null = null;
    try {
      const s = JSON.parse(readFileSync(join(out, STATE_FILE), 'utf8')) as { step?: unknown };
      step = typeof s.step === 'number' ? s.step : null;
    } catch {
      step = null;
    }
    return { kind: 'checkpoint', step };
  }
  if (entries.every((e) => PRE_CHECKPOINT_ENTRIES.includes(e))) {
    let loggedSteps = 0;
    try {
      loggedSteps = readFileSync(join(out, METRICS_FILE), 'utf8').split('\n').filter((l) => l.trim() !== '').length;
    } catch {
      loggedSteps = 0;
    }
    return { kind: 'pre-checkpoint', entries, loggedSteps };
  }
  return { kind: 'other', entries };
}

/**
 * Checks run directory `config.out` before training (see the module doc)
 * and clears what a run killed before its first checkpoint left. Returns
 * whether the run continues from a checkpoint (false: it starts at step 0).
 */
export function prepareRunDir(config: TrainConfig, resume: boolean, log: (message: string) => void): boolean {
  const out = config.out;
  guardOutputs(
    [{ path: out, flag: '--out', type: 'dir', what: 'run directory' }],
    [{ path: config.train_data, what: 'train_data' }, ...(config.val_data ? [{ path: config.val_data, what: 'val_data' }] : [])],
    { log },
  );
  const state = runDirState(out);
  switch (state.kind) {
    case 'new':
      if (resume) throw new UserError(`--resume ${out}: no checkpoint found (${join(out, STATE_FILE)} is missing)`);
      return false;
    case 'checkpoint':
      if (resume) return true;
      throw new UserError(state.step !== null
        ? `${out} already holds a run (checkpoint at step ${state.step}); continue it with --resume ${out} or choose another --out`
        : `${out} already holds a run whose ${STATE_FILE} is unreadable; choose another --out, or repair or delete ${join(out, STATE_FILE)}`);
    case 'other':
      throw new UserError(resume
        ? `--resume ${out}: no checkpoint found (${join(out, STATE_FILE)} is missing, and ${out} holds ${listSome(state.entries)}, which a run does not write)`
        : `${out} exists and is not empty (it holds ${listSome(state.entries)}, not a run of train); choose a new --out directory for the run`);
    case 'pre-checkpoint': {
      const what = `${state.entries.join(', ')}; ${state.loggedSteps} step${state.loggedSteps === 1 ? '' : 's'} logged, none checkpointed`;
      for (const name of [METRICS_FILE, 'best']) {
        if (existsSync(join(out, name))) rmSync(join(out, name), { recursive: true, force: true });
      }
      log(resume
        ? `--resume ${out}: the run stopped before its first checkpoint (${what}); starting it from step 0 with its stored config`
        : `${out} holds a run that stopped before its first checkpoint (${what}); starting it afresh`);
      return false;
    }
  }
}
