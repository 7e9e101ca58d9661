/**
 * eval: mean next-token cross-entropy and perplexity of a checkpoint on a
 * token file. The file is split into consecutive non-overlapping windows of
 * context_length + 1 tokens (a shorter tail is dropped); every position of
 * every window counts. The file is read with positional reads per batch, so
 * memory stays flat whatever its size.
 *
 *   npx tsx pipelines/eval.ts --checkpoint out/run1 --data out/data/valid.bin
 */
import * as tf from '@tensorflow/tfjs';
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { backendOption, checkpointOption } from '../src/pipeline/common-options.ts';
import { BACKEND_NAMES } from '../src/backends/registry.ts';
import { selectBackend } from '../src/backends/select.ts';
import type { BackendName } from '../src/backends/registry.ts';
import { loadCheckpoint, readCheckpointConfig } from '../src/model/checkpoint.ts';
import { ops } from '../src/model/ops.ts';
import { sequentialBatches, sequentialWindowCount } from '../src/train/batch-sampler.ts';
import { checkTokenFile } from '../src/train/token-data.ts';
import { openTokenData } from '../src/train/token-dataset.ts';
import { recordedTokenData } from '../src/train/checkpoint.ts';
import { checkMemory } from '../src/train/preflight.ts';
import { firstOutOfVocab } from '../src/train/train-step.ts';
import { applyPrecision, fallbackWarning, precisionLine, precisionOption, precisionReport, resolvePrecision } from '../src/train/precision.ts';
import type { PrecisionSetting } from '../src/train/precision.ts';

export const evalPipeline = definePipeline({
  name: 'eval',
  description: 'mean next-token cross-entropy and perplexity of a checkpoint on a token file',
  stages: [
    { name: 'load', description: 'checkpoint directory (config.json + model.safetensors), validated' },
    { name: 'evaluate', description: 'consecutive windows of context_length+1 tokens (tail dropped), batched forward passes' },
  ],
  options: {
    checkpoint: checkpointOption,
    data: { type: 'string', required: true, placeholder: 'FILE', description: 'token file (uint16, or uint32 when FILE.json says "dtype": "uint32")' },
    batchSize: { type: 'int', min: 1, default: 8, placeholder: 'B', description: 'windows per forward pass' },
    backend: backendOption(BACKEND_NAMES),
    precision: precisionOption,
  },
  examples: [
    'npx tsx pipelines/eval.ts --checkpoint out/run1 --data out/data/valid.bin',
    'npx tsx pipelines/eval.ts --checkpoint out/run1/best --data valid.bin --batch-size 32 --backend cpu',
  ],
  async run(o, ctx) {
    const backend = await selectBackend(o.backend as BackendName);
    const precision = resolvePrecision(o.precision as PrecisionSetting, backend.name);
    // Before the weights are loaded: the data's ids and tokenizer, then memory (src/train/preflight.ts).
    const config = readCheckpointConfig(o.checkpoint);
    checkTokenFile(o.data, '--data', config.vocab_size, { expected: recordedTokenData(o.checkpoint), minTokens: config.context_length + 1, fixedModel: `checkpoint ${o.checkpoint}` });
    const memory = checkMemory(config, { batchSize: o.batchSize, backend: backend.name, training: false, batchKnob: '--batch-size', otherKnobs: null });
    if (memory.warning) ctx.warn(memory.warning);
    const model = loadCheckpoint(o.checkpoint);
    let source;
    try {
      source = openTokenData(o.data, '--data');
    } catch (e) {
      model.dispose();
      throw e;
    }
    // Process-wide; fp32 again when the evaluation ends.
    const restorePrecision = applyPrecision(precision);
    try {
      const T = model.config.context_length;
      const windows = sequentialWindowCount(source.length, T);
      ctx.log(`${o.checkpoint}: ${windows} windows of ${T + 1} tokens from ${o.data} (backend ${backend.name}; ${precisionLine(precision)})`);
      const task = ctx.progress.task('evaluate', 'tokens', windows * T);
      let sum = 0;
      let tokens = 0;
      for (const batch of sequentialBatches(source, o.batchSize, T, Infinity, o.data)) {
        if (ctx.signal.aborted) throw new Error('interrupted');
        for (const ids of [batch.x, batch.y]) {
          const bad = firstOutOfVocab(ids, model.config.vocab_size);
          if (bad >= 0) {
            const pos = batch.starts[Math.floor(bad / T)] + (bad % T) + (ids === batch.y ? 1 : 0);
            throw new UserError(`${o.data}: token ${ids[bad]} at position ${pos} is outside the model's vocabulary (vocab_size ${model.config.vocab_size}); was the data encoded with this model's tokenizer?`);
          }
        }
        const loss = tf.tidy(() => {
          const x = tf.tensor2d(batch.x, [batch.batchSize, T], 'int32');
          const y = tf.tensor2d(batch.y, [batch.batchSize, T], 'int32');
          return ops.crossEntropy(model.forward(x), y);
        });
        const n = batch.batchSize * T;
        sum += (await loss.data())[0] * n;
        loss.dispose();
        tokens += n;
        task.update(tokens, `loss ${(sum / tokens).toFixed(4)}`);
        // loss.data() settles as a microtask on the CPU backends, so without this the loop
        // never yields: no bar redraw (cli-progress draws on a timer) and no Ctrl-C until the end.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      task.stop();
      const mean = sum / tokens;
      const report = precisionReport(precision);
      const fellBack = fallbackWarning(report);
      if (fellBack) ctx.warn(fellBack);
      return { loss: mean, perplexity: Math.exp(mean), tokens, windows, backend: backend.name, precision: report };
    } finally {
      restorePrecision();
      source.close();
      model.dispose();
    }
  },
});

await runIfMain(evalPipeline, import.meta.url);
