/**
 * The training loop: sample a batch, step, log, evaluate, checkpoint,
 * until max_steps, the wall-clock budget, a requested stop step, or an
 * abort signal. Every exit path except a crash leaves a checkpoint of the
 * last completed step; a non-finite loss stops with a UserError naming the
 * step and the last good checkpoint (which is left untouched).
 *
 * Reproducibility: the weights come from Rng(seed), batch starts from
 * Rng(seed + 1), dropout seeds from Rng(seed + 2); the two training streams
 * are saved in state.json, so resuming at step N and running to N + M gives
 * the same parameters, bit for bit, as running N + M steps straight.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../pipeline/errors.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { Rng } from '../util/rng.ts';
import { TransformerLM } from '../model/model.ts';
import { AdamW } from './adamw.ts';
import { sampleBatch } from './batch-sampler.ts';
import type { Batch } from './batch-sampler.ts';
import { loadTrainingCheckpoint, saveBestCheckpoint, saveTrainingCheckpoint, STATE_FILE } from './checkpoint.ts';
import type { TrainState } from './checkpoint.ts';
import { cosineLr } from './lr-schedule.ts';
import { METRICS_FILE, appendMetrics, parseMetrics, truncateMetrics } from './metrics.ts';
import type { MetricsRecord } from './metrics.ts';
import { checkTokenFile, tokenDataOfFile } from './token-data.ts';
import { openTokenData } from './token-dataset.ts';
import type { TokenSource } from '../tokenizer/token-reader.ts';
import { NonFiniteError, evaluate, firstOutOfVocab, trainStep } from './train-step.ts';
import { BudgetFitter } from './budget-fit.ts';
import { TRAIN_CONFIG_FILE, trainConfigToJson } from './train-config.ts';
import { prepareRunDir } from './run-start.ts';
import type { TrainConfig } from './train-config.ts';
import { applyPrecision, fallbackWarning, precisionReport, resolvePrecision } from './precision.ts';
import type { PrecisionReport } from './precision.ts';

/** Progress and control hooks (all optional). */
export interface RunHooks {
  /** Called after every step. */
  onStep?(record: MetricsRecord, config: TrainConfig): void;
  /** One informational line. */
  log?(message: string): void;
  /** One warning line (default: `log`). */
  warn?(message: string): void;
  /** Stop cleanly (with a checkpoint) when aborted. */
  signal?: AbortSignal;
  /** Stop cleanly after this step (a pause: resume later continues the same schedule). */
  stopAtStep?: number;
}

export type StopReason = 'completed' | 'max_minutes' | 'stop_at_step' | 'interrupted';

export interface RunSummary {
  out: string;
  step: number;
  max_steps: number;
  tokens: number;
  loss: number | null;
  val_loss: number | null;
  best_val_loss: number | null;
  best_step: number | null;
  elapsed_s: number;
  tokens_per_s: number;
  stopped: StopReason;
  resumed_from: number | null;
  /** The matmul precision that ran (src/train/precision.ts): with bf16, oneDNN's ISA/implementations and fallbacks. */
  precision: PrecisionReport;
  /**
   * Where this session's time went, per stage of the data side and the
   * trainer (pipelines' `stages` block): sample (token file → random
   * windows), step (forward, backward, clip, AdamW), evaluate, checkpoint.
   */
  stages: Record<'sample' | 'step' | 'evaluate' | 'checkpoint', { seconds: number; items: number }>;
}

/** The step recorded in a run directory's state.json, or null when OUT holds no checkpoint. */
export function checkpointStep(out: string): number | null {
  const p = join(out, STATE_FILE);
  if (!existsSync(p)) return null;
  try {
    const s = JSON.parse(readFileSync(p, 'utf8')) as { step?: unknown };
    return typeof s.step === 'number' ? s.step : null;
  } catch {
    return null;
  }
}

function openData(path: string, what: string, vocabSize: number): TokenSource {
  checkTokenFile(path, what, vocabSize);
  return openTokenData(path, what);
}

function checkVocab(batch: Batch, vocabSize: number, path: string): void {
  for (const ids of [batch.x, batch.y]) {
    const i = firstOutOfVocab(ids, vocabSize);
    if (i >= 0) {
      const T = batch.contextLength;
      const pos = batch.starts[Math.floor(i / T)] + (i % T) + (ids === batch.y ? 1 : 0);
      throw new UserError(`${path}: token ${pos} has id ${ids[i]}, outside the model's vocab_size ${vocabSize}; set model.vocab_size to the tokenizer's vocabulary size`);
    }
  }
}

/**
 * Trains according to `config`, into `config.out`. With `resumeRequested`,
 * continues the checkpoint in `config.out`; without it, `out` must be new or
 * empty. Either way, a run directory killed before its first checkpoint is
 * started again from step 0 (run-start.ts).
 */
export async function runTraining(given: TrainConfig, resumeRequested: boolean, hooks: RunHooks = {}): Promise<RunSummary> {
  // With fit_to_budget, max_steps is replaced by the fitted length during warm-up.
  let config = given;
  const out = config.out;
  const log = hooks.log ?? (() => {});
  const warn = hooks.warn ?? log;
  const T = config.model.context_length;
  const tokensPerStep = config.batch_size * T;
  const metricsPath = join(out, METRICS_FILE);

  // An unavailable precision is refused before the run directory is touched.
  const precision = resolvePrecision(config.precision, tf.getBackend());
  // Refuses an OUT that holds the data or is not a run; a run killed before its first checkpoint starts again.
  const resume = prepareRunDir(config, resumeRequested, log);
  // The matmul precision is process-wide: set for this run, fp32 again when it ends (sweeps, tests).
  const restorePrecision = applyPrecision(precision);

  let train: TokenSource;
  let val: TokenSource | null = null;
  try {
    train = openData(config.train_data, 'train_data', config.model.vocab_size);
  } catch (e) {
    restorePrecision();
    throw e;
  }
  try {
    if (config.val_data) val = openData(config.val_data, 'val_data', config.model.vocab_size);
  } catch (e) {
    train.close();
    restorePrecision();
    throw e;
  }
  let modelRef: TransformerLM | null = null;
  let optimizerRef: AdamW | null = null;
  try {
    let state: TrainState;
    let dataRng: Rng;
    let dropoutRng: Rng;
    if (resume) {
      const ck = await loadTrainingCheckpoint(out);
      if (JSON.stringify(ck.model.config) !== JSON.stringify(config.model)) {
        ck.model.dispose();
        throw new UserError(`--resume ${out}: the model config differs from the checkpoint's; a resumed run keeps its architecture`);
      }
      modelRef = ck.model;
      optimizerRef = new AdamW(ck.model.params, { lr: config.lr, betas: config.betas, weightDecay: config.weight_decay });
      optimizerRef.importState(ck.optimizer);
      state = ck.state;
      // Checkpoints before the precision was recorded ran in fp32.
      const ran = state.precision ?? 'fp32';
      if (ran !== precision.precision) warn(`--resume ${out}: the checkpoint was trained with ${ran} matmuls and continues in ${precision.precision}; the result will not match an uninterrupted run bit for bit`);
      state.precision = precision.precision;
      dataRng = Rng.fromState(state.rng.data);
      dropoutRng = Rng.fromState(state.rng.dropout);
      // Steps logged after the checkpoint are replayed: drop them.
      if (existsSync(metricsPath)) {
        const kept = truncateMetrics(parseMetrics(readFileSync(metricsPath, 'utf8'), metricsPath), state.step);
        writeFileAtomic(metricsPath, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
      }
      log(`resuming ${out} at step ${state.step} of ${config.max_steps}`);
    } else {
      modelRef = TransformerLM.initialize(config.model, new Rng(config.seed));
      optimizerRef = new AdamW(modelRef.params, { lr: config.lr, betas: config.betas, weightDecay: config.weight_decay });
      dataRng = new Rng(config.seed + 1);
      dropoutRng = new Rng(config.seed + 2);
      state = { step: 0, tokens: 0, elapsed_s: 0, best_val_loss: null, best_step: null, last_loss: null, last_val_loss: null, rng: { data: dataRng.state(), dropout: dropoutRng.state() }, tokenizer: config.tokenizer, token_data: tokenDataOfFile(config.train_data), precision: precision.precision };
    }
    const model = modelRef;
    const optimizer = optimizerRef;
    writeFileAtomic(join(out, TRAIN_CONFIG_FILE), `${JSON.stringify(trainConfigToJson(config), null, 2)}\n`);
    const resumedFrom = resume ? state.step : resumeRequested ? 0 : null;
    if (resume && state.step >= config.max_steps) log(`the checkpoint is already at step ${state.step} >= max_steps ${config.max_steps}; nothing to do`);

    const sessionStart = performance.now();
    const elapsedBefore = state.elapsed_s;
    const sessionSeconds = (): number => (performance.now() - sessionStart) / 1000;
    const elapsed = (): number => elapsedBefore + sessionSeconds();
    const budgetS = config.max_minutes === null ? Infinity : config.max_minutes * 60;
    let lastCheckpoint = resume ? state.step : -1;
    let stepSeconds = 0;
    let stopped: StopReason = 'completed';

    const stages: RunSummary['stages'] = {
      sample: { seconds: 0, items: 0 }, step: { seconds: 0, items: 0 }, evaluate: { seconds: 0, items: 0 }, checkpoint: { seconds: 0, items: 0 },
    };
    const timed = (stage: keyof RunSummary['stages'], t0: number): void => { stages[stage].seconds += (performance.now() - t0) / 1000; stages[stage].items++; };
    const snapshot = (): TrainState => ({ ...state, elapsed_s: elapsed(), rng: { data: dataRng.state(), dropout: dropoutRng.state() }, tokenizer: config.tokenizer });
    const checkpoint = async (): Promise<void> => {
      const t0 = performance.now();
      state = snapshot();
      await saveTrainingCheckpoint(out, model, optimizer, state);
      lastCheckpoint = state.step;
      timed('checkpoint', t0);
    };

    const fitter = config.fit_to_budget ? BudgetFitter.plan(config, state.step) : null;
    if (config.fit_to_budget && !fitter) log(`fit_to_budget: step ${state.step} is too close to the end of the ${config.warmup_steps}-step warm-up to time steps there; keeping max_steps ${config.max_steps} (the budget still stops the run)`);

    while (state.step < config.max_steps) {
      // Give the event loop one turn per step: on the CPU backends every await in a step resolves
      // as a microtask, so without this Ctrl-C/SIGTERM handlers never run until training ends.
      await new Promise<void>((resolve) => { setImmediate(resolve); });
      if (hooks.signal?.aborted) { stopped = 'interrupted'; break; }
      if (hooks.stopAtStep !== undefined && state.step >= hooks.stopAtStep) { stopped = 'stop_at_step'; break; }
      if (sessionSeconds() + stepSeconds > budgetS) { stopped = 'max_minutes'; break; }

      const step = state.step + 1;
      const lr = cosineLr(state.step, config.lr, config.min_lr, config.warmup_steps, config.max_steps);
      const tSample = performance.now();
      const batch = sampleBatch(train, dataRng, config.batch_size, T, config.train_data);
      checkVocab(batch, config.model.vocab_size, config.train_data);
      timed('sample', tSample);
      const t0 = performance.now();
      fitter?.stepStarted(step, t0);
      let result;
      try {
        result = await trainStep(model, optimizer, batch, lr, config.grad_clip, dropoutRng);
      } catch (e) {
        if (e instanceof NonFiniteError) {
          const where = lastCheckpoint >= 0 ? `the last good checkpoint (step ${lastCheckpoint}) is in ${out}` : 'no checkpoint was written yet';
          throw new UserError(`step ${step}: ${e.message}; training stopped and ${where}; lower lr, keep grad_clip on, or check the data`);
        }
        throw e;
      }
      stepSeconds = (performance.now() - t0) / 1000;
      timed('step', t0);
      state.step = step;
      state.tokens += tokensPerStep;
      state.last_loss = result.loss;
      const record: MetricsRecord = {
        step,
        tokens: state.tokens,
        lr,
        loss: result.loss,
        grad_norm: result.gradNorm,
        tokens_per_s: tokensPerStep / Math.max(stepSeconds, 1e-9),
        elapsed_s: elapsed(),
      };
      // Evaluation depends on the step only (not on pauses), so a resumed run logs what a straight one does;
      // a run about to stop at its wall-clock budget also evaluates its last step, so it ends with a val_loss.
      const budgetEnds = sessionSeconds() + stepSeconds > budgetS;
      if (val && (step % config.eval_interval === 0 || step === config.max_steps || budgetEnds)) {
        const evalStart = performance.now();
        const v = (await evaluate(model, val, config.batch_size, config.eval_batches)).loss;
        fitter?.evaluated((performance.now() - evalStart) / 1000);
        timed('evaluate', evalStart);
        record.val_loss = v;
        state.last_val_loss = v;
        if (state.best_val_loss === null || v < state.best_val_loss) {
          state.best_val_loss = v;
          state.best_step = step;
          await saveBestCheckpoint(join(out, 'best'), model, snapshot());
        }
      }
      const refit = fitter?.stepDone(step, performance.now(), config, budgetS - sessionSeconds(), val !== null);
      if (refit) {
        config = { ...config, max_steps: refit.maxSteps, fit_to_budget: false };
        writeFileAtomic(join(out, TRAIN_CONFIG_FILE), `${JSON.stringify(trainConfigToJson(config), null, 2)}\n`);
        if (refit.message) log(refit.message);
      }
      appendMetrics(metricsPath, record);
      hooks.onStep?.(record, config);
      if (step % config.checkpoint_interval === 0 || step === config.max_steps) await checkpoint();
    }
    if (lastCheckpoint !== state.step) await checkpoint();
    const total = elapsed();
    const precisionSummary = precisionReport(precision);
    const fellBack = fallbackWarning(precisionSummary);
    if (fellBack) warn(fellBack);
    return {
      out,
      step: state.step,
      max_steps: config.max_steps,
      tokens: state.tokens,
      loss: state.last_loss,
      val_loss: state.last_val_loss,
      best_val_loss: state.best_val_loss,
      best_step: state.best_step,
      elapsed_s: total,
      tokens_per_s: total > 0 ? state.tokens / total : 0,
      stopped,
      resumed_from: resumedFrom,
      precision: precisionSummary,
      stages: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, { seconds: Math.round(v.seconds * 1000) / 1000, items: v.items }])) as RunSummary['stages'],
    };
  } finally {
    optimizerRef?.dispose();
    modelRef?.dispose();
    train.close();
    val?.close();
    restorePrecision();
  }
}
