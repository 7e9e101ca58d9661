/**
 * accounting: parameters, forward/backward FLOPs of every matmul, AdamW
 * training memory (a·batch_size + b bytes, largest batch in a budget) and
 * training time at a given peak and MFU, for a preset or a config.json.
 * The table goes to stderr (not with --json or --quiet); the one-line JSON
 * summary on stdout carries every number.
 *
 *   npx tsx pipelines/accounting.ts --model gpt2-xl
 */
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { configOption } from '../src/pipeline/common-options.ts';
import { loadModelConfig } from '../src/accounting/model-source.ts';
import { PRESET_NAMES } from '../src/accounting/presets.ts';
import { accountModel, formatReport } from '../src/accounting/report.ts';
import type { Dtype } from '../src/accounting/memory.ts';

const DEFAULT_MEMORY_GB = 80;

export const accounting = definePipeline({
  name: 'accounting',
  description: 'count parameters, matmul FLOPs, AdamW training memory and training time of a Transformer LM',
  stages: [
    { name: 'resolve', description: 'the model config from --model or --config, with --context/--d-ff overrides' },
    { name: 'account', description: 'parameters, forward/backward FLOPs, AdamW memory, training time' },
  ],
  options: {
    model: { type: 'string', placeholder: 'PRESET', description: `model preset (${PRESET_NAMES.join(', ')})` },
    config: { ...configOption, description: 'model config.json, or a training config with a "model" object (missing keys take the model defaults)' },
    context: { type: 'int', min: 1, description: 'context length override (tokens per sequence)' },
    dFf: { type: 'int', min: 1, description: 'd_ff override' },
    batch: { type: 'int', default: 1, min: 1, placeholder: 'B', description: 'sequences for the per-batch FLOPs and memory figures' },
    dtype: { type: 'string', default: 'fp32', choices: ['fp32', 'bf16'], description: 'storage type of every tensor' },
    memoryGb: { type: 'number', placeholder: 'GB', helpDefault: String(DEFAULT_MEMORY_GB), description: 'memory budget for the largest batch, GB = 1e9 bytes; when given, a budget that fits no batch is an error' },
    peakTflops: { type: 'number', default: 19.5, placeholder: 'T', description: 'hardware peak TFLOP/s (A100 fp32: 19.5)' },
    mfu: { type: 'number', default: 0.5, max: 1, placeholder: 'F', description: 'model FLOPs utilization (0 < F <= 1)' },
    steps: { type: 'int', default: 400000, min: 1, description: 'training steps' },
    batchSize: { type: 'int', default: 1024, min: 1, description: 'training batch size (sequences per step)' },
    json: { type: 'boolean', description: 'print only the JSON summary (no table)' },
  },
  examples: [
    'npx tsx pipelines/accounting.ts --model gpt2-xl',
    'npx tsx pipelines/accounting.ts --model gpt2-xl --context 16384 --json',
    'npx tsx pipelines/accounting.ts --config out/model/config.json --memory-gb 24 --dtype bf16',
  ],
  validate(o) {
    if (o.model === undefined && o.config === undefined) throw new UserError('give --model PRESET or --config FILE (see --help)');
    if (o.model !== undefined && o.config !== undefined) throw new UserError('--model and --config exclude each other: give one (see --help)');
    if (o.memoryGb !== undefined && !(o.memoryGb > 0)) throw new UserError(`invalid value ${o.memoryGb} for --memory-gb: must be positive`);
    if (!(o.peakTflops > 0)) throw new UserError(`invalid value ${o.peakTflops} for --peak-tflops: must be positive`);
    if (!(o.mfu > 0)) throw new UserError(`invalid value ${o.mfu} for --mfu: must be in (0, 1]`);
  },
  async run(o, ctx) {
    const { config, label } = loadModelConfig({ preset: o.model, configPath: o.config, context: o.context, dFf: o.dFf });
    const report = accountModel(config, label, {
      dtype: o.dtype as Dtype,
      batch: o.batch,
      memoryGb: o.memoryGb ?? DEFAULT_MEMORY_GB,
      memoryExplicit: o.memoryGb !== undefined,
      peakTflops: o.peakTflops,
      mfu: o.mfu,
      steps: o.steps,
      batchSize: o.batchSize,
    });
    if (report.memory.max_batch === 0) ctx.warn(`no batch fits in ${report.memory.budget_gb} GB (see memory.expression)`);
    if (!o.json && ctx.progress.mode !== 'off') process.stderr.write(`${formatReport(report).join('\n')}\n`);
    return { ...report };
  },
});

await runIfMain(accounting, import.meta.url);
