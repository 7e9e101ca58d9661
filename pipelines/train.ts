/**
 * train: train a Transformer LM on token files with AdamW, a cosine
 * schedule with warmup and gradient clipping; log OUT/metrics.jsonl,
 * evaluate on validation data, checkpoint atomically (latest in OUT, best
 * validation in OUT/best), resume exactly.
 *
 *   npx tsx pipelines/train.ts --config runs/tiny.json --max-steps 100
 *   npx tsx pipelines/train.ts --resume out/tiny --max-steps 200
 */
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { backendOption, configOption, outOption, tokenizerOption } from '../src/pipeline/common-options.ts';
import { BACKEND_NAMES } from '../src/backends/registry.ts';
import { selectBackend } from '../src/backends/select.ts';
import type { BackendName } from '../src/backends/registry.ts';
import { countParameters } from '../src/model/params.ts';
import { formatQuantity } from '../src/pipeline/progress.ts';
import { checkpointStep, runTraining } from '../src/train/run.ts';
import { checkDataTokenizer } from '../src/train/tokenizer-check.ts';
import { defaultedModelKeys, resolveTrainConfig } from '../src/train/train-config.ts';
import { layeredTrainConfig, trainConfigFlags } from '../src/train/train-flags.ts';
import { checkMemory, checkTrainingData, modelLine } from '../src/train/preflight.ts';
import { recordedTokenData } from '../src/train/checkpoint.ts';
import { precisionLine, resolvePrecision } from '../src/train/precision.ts';

export const train = definePipeline({
  name: 'train',
  gracefulInterrupt: true,
  description: 'train a Transformer LM on token files (AdamW, cosine schedule, clipping, checkpoints, exact resume)',
  stages: [
    { name: 'config', description: 'stored config (--resume) < --config JSON < flags (every training and model key as a --kebab-case flag)' },
    { name: 'sample', description: 'token file (train_data, read in place) → B random windows of context_length + 1 ids (seeded)' },
    { name: 'step', description: 'forward/backward → clip → AdamW on the chosen backend; one metrics.jsonl line per step' },
    { name: 'evaluate', description: 'validation loss every eval_interval steps on the same eval_batches windows' },
    { name: 'checkpoint', description: 'latest in OUT (atomic), best validation in OUT/best' },
  ],
  options: {
    config: { ...configOption, description: 'training config JSON (the keys below, snake_case)' },
    resume: { type: 'string', placeholder: 'RUN', description: 'continue the run in RUN exactly (its stored config, overridable by --config and flags)' },
    // One flag per training-config and model key, from the schemas (src/train/train-flags.ts).
    ...trainConfigFlags({ out: outOption, tokenizer: tokenizerOption, backend: backendOption(BACKEND_NAMES) }),
    stopAtStep: { type: 'int', min: 0, description: 'pause after this step (checkpointed; --resume continues the same schedule)' },
  },
  examples: [
    'npx tsx pipelines/train.ts --config runs/tinystories-15min.json',
    'npx tsx pipelines/train.ts --train-data out/data/train.bin --val-data out/data/valid.bin --model \'{"vocab_size":10000,"d_model":256,"num_layers":4,"num_heads":8}\' --max-steps 2000 --out out/run1',
    'npx tsx pipelines/train.ts --config runs/tinystories-15min.json --num-layers 2 --d-model 128 --num-heads 4 --out out/small',
    'npx tsx pipelines/train.ts --resume out/run1 --max-steps 4000',
    'npx tsx pipelines/train.ts --config runs/tinystories-15min.json --max-minutes 90 --fit-to-budget --max-steps 1000000',
  ],
  validate(o) {
    if (!o.config && !o.resume && !o.trainData) throw new UserError('give --config FILE, --resume RUN, or at least --train-data, --max-steps and --out (see --help)');
  },
  async run(o, ctx) {
    const { raw, source } = layeredTrainConfig(o);
    const config = resolveTrainConfig(raw, source);
    // Before anything is allocated: data ids, paths, then (with the backend known) memory (preflight.ts).
    checkTrainingData(config, o.resume ? recordedTokenData(o.resume) : null);
    // The data and the tokenizer recorded for generate must be one tokenizer (tokenizer-identity.ts).
    const tokenizerHash = checkDataTokenizer(config, (m) => ctx.warn(m));
    const backend = await selectBackend(config.backend as BackendName);
    // Refuses an explicit bf16 that cannot run here; runTraining applies the same resolution.
    const precision = resolvePrecision(config.precision, backend.name);
    const memory = checkMemory(config.model, { batchSize: config.batch_size, backend: backend.name });
    const params = countParameters(config.model);
    const budget = config.max_minutes === null ? '' : config.fit_to_budget ? ` at most, fitted to ${config.max_minutes} min during warm-up` : ` or ${config.max_minutes} min, whichever comes first`;
    ctx.log(`${modelLine(config.model, memory, config.batch_size, backend.name, o.resume ? [] : defaultedModelKeys(raw))}; ${config.max_steps} steps of ${config.batch_size}×${config.model.context_length} tokens${budget} → ${config.out}; ${precisionLine(precision)}`);
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
      warn: (m) => ctx.warn(m),
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
