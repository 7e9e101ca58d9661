/**
 * train: train a Transformer LM on token files with AdamW, a cosine
 * schedule with warmup and gradient clipping; log OUT/metrics.jsonl,
 * evaluate on validation data, checkpoint atomically (latest in OUT, best
 * validation in OUT/best), resume exactly.
 *
 *   npx tsx pipelines/train.ts --config runs/tiny.json --max-steps 100
 *   npx tsx pipelines/train.ts --resume out/tiny --max-steps 200
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { BACKEND_NAMES } from '../src/backends/registry.ts';
import { selectBackend } from '../src/backends/select.ts';
import type { BackendName } from '../src/backends/registry.ts';
import { countParameters } from '../src/model/params.ts';
import { formatQuantity } from '../src/pipeline/progress.ts';
import { TRAIN_CONFIG_FILE, checkpointStep, runTraining } from '../src/train/run.ts';
import { checkDataTokenizer } from '../src/train/tokenizer-check.ts';
import { defaultedModelKeys, mergeRaw, readTrainConfigFile, resolveTrainConfig } from '../src/train/train-config.ts';
import { checkMemory, checkTrainingData, modelLine } from '../src/train/preflight.ts';
import { recordedTokenData } from '../src/train/checkpoint.ts';
import type { RawTrainConfig } from '../src/train/train-config.ts';

/** `--betas 0.9,0.95` → [0.9, 0.95]. */
function parseBetas(s: string | undefined): number[] | undefined {
  if (s === undefined) return undefined;
  const parts = s.split(',').map((x) => Number(x.trim()));
  if (parts.length !== 2 || parts.some((x) => !Number.isFinite(x))) throw new UserError(`invalid value '${s}' for --betas: expected two numbers, e.g. 0.9,0.95`);
  return parts;
}

/** `--model` as inline JSON, or a JSON file of model keys (a config.json). */
function parseModel(s: string | undefined): unknown {
  if (s === undefined) return undefined;
  let text = s;
  if (!s.trim().startsWith('{')) {
    try {
      text = readFileSync(s, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EISDIR') throw new UserError(`--model ${s} is a directory; give inline JSON or a config.json file (e.g. ${join(s, 'config.json')})`);
      throw new UserError(`cannot read --model ${s}: ${code ?? (e as Error).message} (give inline JSON or a config.json path)`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UserError(`--model: invalid JSON (${(e as Error).message.split('\n')[0]})`);
  }
}

export const train = definePipeline({
  name: 'train',
  gracefulInterrupt: true,
  description: 'train a Transformer LM on token files (AdamW, cosine schedule, clipping, checkpoints, exact resume)',
  stages: [
    { name: 'config', description: '--config JSON, then flag overrides (snake_case keys as --kebab-case flags)' },
    { name: 'train', description: 'random batches (seeded) → forward/backward → clip → AdamW; one metrics.jsonl line per step' },
    { name: 'evaluate', description: 'validation loss every eval_interval steps on the same eval_batches windows' },
    { name: 'checkpoint', description: 'latest in OUT (atomic), best validation in OUT/best' },
  ],
  options: {
    config: { type: 'string', short: 'c', placeholder: 'FILE', description: 'training config JSON (keys as below, snake_case)' },
    resume: { type: 'string', placeholder: 'RUN', description: 'continue the run in RUN exactly (its stored config, overridable by flags)' },
    model: { type: 'string', placeholder: 'JSON|FILE', description: 'model config keys, inline JSON or a config.json (merged over the config\'s "model")' },
    trainData: { type: 'string', placeholder: 'FILE', description: 'training token file (uint16, or uint32 per its .json sidecar)' },
    valData: { type: 'string', placeholder: 'FILE', description: 'validation token file' },
    tokenizer: { type: 'string', placeholder: 'DIR', description: 'tokenizer directory, recorded for generate' },
    batchSize: { type: 'int', min: 1, placeholder: 'B', description: 'sequences per step (default 32)' },
    maxSteps: { type: 'int', min: 1, description: 'optimizer steps (or --max-tokens)' },
    maxTokens: { type: 'int', min: 1, description: 'training tokens (steps = ⌈tokens / (batch·context)⌉)' },
    lr: { type: 'number', min: 0, description: 'peak learning rate (default 1e-3)' },
    minLr: { type: 'number', min: 0, description: 'final learning rate (default lr/10)' },
    warmupSteps: { type: 'int', min: 0, description: 'linear warmup steps (default 1% of max steps)' },
    weightDecay: { type: 'number', min: 0, description: 'decoupled weight decay (default 0.1)' },
    betas: { type: 'string', placeholder: 'B1,B2', description: 'AdamW betas (default 0.9,0.95)' },
    gradClip: { type: 'number', min: 0, description: 'max global gradient L2 norm, 0 = off (default 1.0)' },
    evalInterval: { type: 'int', min: 1, description: 'steps between validation runs (default 100)' },
    evalBatches: { type: 'int', min: 1, description: 'validation batches per evaluation (default 20)' },
    checkpointInterval: { type: 'int', min: 1, description: 'steps between checkpoints (default 500)' },
    seed: { type: 'int', min: 0, description: 'seed of initialization, batches and dropout (default 0)' },
    backend: { type: 'string', choices: BACKEND_NAMES, description: 'TensorFlow.js backend (default auto)' },
    maxMinutes: { type: 'number', min: 0, description: 'wall-clock budget of this invocation; stops cleanly with a checkpoint' },
    fitToBudget: { type: 'boolean', description: 'leaderboard mode: time the warm-up, then fit max_steps (a cap) to --max-minutes so the cosine schedule ends with the budget' },
    out: { type: 'string', short: 'o', placeholder: 'DIR', description: 'run directory (new or empty)' },
    stopAtStep: { type: 'int', min: 0, description: 'pause after this step (checkpointed; --resume continues the same schedule)' },
  },
  examples: [
    'npx tsx pipelines/train.ts --config runs/tinystories-15min.json',
    'npx tsx pipelines/train.ts --train-data out/data/train.bin --val-data out/data/valid.bin --model \'{"vocab_size":10000,"d_model":256,"num_layers":4,"num_heads":8}\' --max-steps 2000 --out out/run1',
    'npx tsx pipelines/train.ts --resume out/run1 --max-steps 4000',
    'npx tsx pipelines/train.ts --config runs/tinystories-15min.json --max-minutes 90 --fit-to-budget --max-steps 1000000',
  ],
  validate(o) {
    if (!o.config && !o.resume && !o.trainData) throw new UserError('give --config FILE, --resume RUN, or at least --train-data, --max-steps and --out (see --help)');
  },
  async run(o, ctx) {
    const fileRaw: RawTrainConfig = o.config ? readTrainConfigFile(o.config) : {};
    const flagRaw: RawTrainConfig = {
      model: parseModel(o.model), train_data: o.trainData, val_data: o.valData, tokenizer: o.tokenizer,
      batch_size: o.batchSize, max_steps: o.maxSteps, max_tokens: o.maxTokens, lr: o.lr, min_lr: o.minLr,
      warmup_steps: o.warmupSteps, weight_decay: o.weightDecay, betas: parseBetas(o.betas), grad_clip: o.gradClip,
      eval_interval: o.evalInterval, eval_batches: o.evalBatches, checkpoint_interval: o.checkpointInterval,
      seed: o.seed, backend: o.backend, max_minutes: o.maxMinutes, fit_to_budget: o.fitToBudget || undefined, out: o.out,
    };
    let raw: RawTrainConfig;
    let source = o.config ?? 'command line';
    if (o.resume) {
      if (o.out !== undefined && o.out !== o.resume) throw new UserError(`--out ${o.out} differs from --resume ${o.resume}: a resumed run stays in its directory`);
      const stored = readTrainConfigFile(join(o.resume, TRAIN_CONFIG_FILE));
      // A new run length replaces the stored one, whichever way it is given.
      const lengthGiven = [fileRaw, flagRaw].some((r) => r.max_steps !== undefined || r.max_tokens !== undefined);
      if (lengthGiven) { delete stored.max_steps; delete stored.max_tokens; }
      raw = mergeRaw(stored, fileRaw, flagRaw, { out: o.resume });
      source = `${join(o.resume, TRAIN_CONFIG_FILE)} + overrides`;
    } else {
      raw = mergeRaw(fileRaw, flagRaw);
    }
    const config = resolveTrainConfig(raw, source);
    // Before anything is allocated: data ids, paths, then (with the backend known) memory (preflight.ts).
    checkTrainingData(config, o.resume ? recordedTokenData(o.resume) : null);
    // The data and the tokenizer recorded for generate must be one tokenizer (tokenizer-identity.ts).
    const tokenizerHash = checkDataTokenizer(config, (m) => ctx.warn(m));
    const backend = await selectBackend(config.backend as BackendName);
    const memory = checkMemory(config.model, { batchSize: config.batch_size, backend: backend.name });
    const params = countParameters(config.model);
    const budget = config.max_minutes === null ? '' : config.fit_to_budget ? ` at most, fitted to ${config.max_minutes} min during warm-up` : ` or ${config.max_minutes} min, whichever comes first`;
    ctx.log(`${modelLine(config.model, memory, config.batch_size, backend.name, o.resume ? [] : defaultedModelKeys(raw))}; ${config.max_steps} steps of ${config.batch_size}×${config.model.context_length} tokens${budget} → ${config.out}`);
    if (memory.warning) ctx.warn(memory.warning);
    // A resumed run's rate counts only this session's steps.
    const resumedAt = o.resume !== undefined ? checkpointStep(config.out) ?? 0 : 0;
    const task = ctx.progress.task('train', 'steps', config.max_steps, resumedAt);
    // With a time budget the bar's total is the step the budget will reach
    // at the current pace (capped at max_steps), so the ETA is the real one.
    const budgetS = config.max_minutes === null ? null : config.max_minutes * 60;
    const t0 = performance.now();
    let firstStep: number | null = null;
    let lastVal: number | undefined;
    const summary = await runTraining(config, o.resume !== undefined, {
      log: (m) => ctx.log(m),
      signal: ctx.signal,
      stopAtStep: o.stopAtStep,
      onStep: (r, current) => {
        if (r.val_loss !== undefined) lastVal = r.val_loss;
        firstStep ??= r.step - 1;
        if (budgetS !== null) {
          const elapsed = (performance.now() - t0) / 1000;
          const pace = (r.step - firstStep) / elapsed;
          task.setTotal(Math.max(r.step, Math.min(current.max_steps, Math.round(r.step + Math.max(0, budgetS - elapsed) * pace))));
        }
        task.update(r.step, `loss ${r.loss.toFixed(3)}${lastVal !== undefined ? ` val ${lastVal.toFixed(3)}` : ''} lr ${r.lr.toExponential(2)} ${formatQuantity(r.tokens_per_s, 'tokens')}/s`);
      },
    });
    task.stop();
    return { ...summary, parameters: params, backend: backend.name, tokenizer_hash: tokenizerHash };
  },
});

await runIfMain(train, import.meta.url);
