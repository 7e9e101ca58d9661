/**
 * generate: sample text from a trained checkpoint, streaming it to stdout
 * as tokens are produced (KV cache; temperature, top-p, top-k; temperature
 * 0 is greedy). Stops at <|endoftext|> or after --max-tokens. The summary
 * line goes to stderr since stdout carries the text.
 *
 *   npx tsx pipelines/generate.ts --checkpoint out/run1 --prompt "Once upon a time" --max-tokens 256 --temperature 0.8 --top-p 0.9
 */
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { backendOption, checkpointOption, tokenizerOption } from '../src/pipeline/common-options.ts';
import { BACKEND_NAMES } from '../src/backends/registry.ts';
import { selectBackend } from '../src/backends/select.ts';
import type { BackendName } from '../src/backends/registry.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { Rng } from '../src/util/rng.ts';
import { loadCheckpoint, readCheckpointConfig } from '../src/model/checkpoint.ts';
import { recordedTokenData, recordedTokenizer } from '../src/train/checkpoint.ts';
import { checkDirectoryArg, checkTokenizerDir } from '../src/train/preflight.ts';
import { StreamingTextDecoder, generateTokens } from '../src/train/generate.ts';
import { applyPrecision, fallbackWarning, precisionOption, precisionReport, resolvePrecision } from '../src/train/precision.ts';
import type { PrecisionSetting } from '../src/train/precision.ts';

export const generate = definePipeline({
  name: 'generate',
  description: 'generate text from a checkpoint, streamed to stdout (temperature, top-p, top-k; KV cache)',
  stages: [
    { name: 'load', description: 'checkpoint (config.json + model.safetensors) and tokenizer' },
    { name: 'prefill', description: 'run the prompt once, filling the KV cache' },
    { name: 'decode', description: 'sample one token at a time, print text as it completes' },
  ],
  options: {
    checkpoint: checkpointOption,
    tokenizer: { ...tokenizerOption, required: false, helpDefault: 'the one recorded by train' },
    prompt: { type: 'string', default: '', description: 'text to continue (empty: start after <|endoftext|>)' },
    maxTokens: { type: 'int', default: 256, min: 1, description: 'maximum number of new tokens' },
    temperature: { type: 'number', default: 0.8, min: 0, description: 'softmax temperature; 0 = greedy' },
    topP: { type: 'number', default: 1, min: 0, max: 1, description: 'nucleus sampling: smallest set of tokens with this probability mass (1 = off)' },
    topK: { type: 'int', default: 0, min: 0, description: 'keep the K most likely tokens (0 = off)' },
    seed: { type: 'int', default: 0, min: 0, description: 'sampling seed' },
    stopToken: { type: 'string', default: '<|endoftext|>', placeholder: 'TOKEN', description: 'special token that ends generation' },
    echo: { type: 'boolean', description: 'print the prompt before the continuation' },
    backend: backendOption(BACKEND_NAMES),
    precision: precisionOption,
  },
  examples: ['npx tsx pipelines/generate.ts --checkpoint out/run1 --prompt "Once upon a time" --max-tokens 256 --temperature 0.8 --top-p 0.9'],
  validate(o) {
    if (!(o.topP > 0)) throw new UserError(`invalid value ${o.topP} for --top-p: must be in (0, 1]`);
  },
  async run(o, ctx) {
    const backend = await selectBackend(o.backend as BackendName);
    const precision = resolvePrecision(o.precision as PrecisionSetting, backend.name);
    readCheckpointConfig(o.checkpoint); // a directory with a valid config.json, before the tokenizer is looked for
    const tokDir = o.tokenizer ?? recordedTokenizer(o.checkpoint);
    if (!tokDir) throw new UserError(`no tokenizer recorded with ${o.checkpoint}; pass --tokenizer DIR`);
    checkDirectoryArg(tokDir, o.tokenizer ? '--tokenizer' : `the tokenizer recorded with ${o.checkpoint},`, 'give the tokenizer directory (vocab.json + merges.txt) with --tokenizer');
    // The tokenizer must be the one the training data was encoded with (the check eval and train share).
    const recorded = recordedTokenData(o.checkpoint);
    if (recorded) checkTokenizerDir(tokDir, recorded, 'pass the tokenizer the model was trained with as --tokenizer');
    const tokenizer = Tokenizer.fromDir(tokDir, [o.stopToken].filter((t) => t !== ''));
    const model = loadCheckpoint(o.checkpoint);
    // Process-wide; fp32 again when generation ends.
    const restorePrecision = applyPrecision(precision);
    try {
      const V = model.config.vocab_size;
      const stopId = o.stopToken ? tokenizer.specialId(o.stopToken) : undefined;
      let prompt = tokenizer.encode(o.prompt);
      if (prompt.length === 0) {
        if (stopId === undefined) throw new UserError('an empty --prompt needs a --stop-token in the tokenizer to start from');
        prompt = [stopId];
      }
      const bad = prompt.find((id) => id >= V);
      if (bad !== undefined) throw new UserError(`the prompt encodes to id ${bad}, outside the model's vocab_size ${V}; is --tokenizer the one the model was trained with?`);
      if (tokenizer.vocabSize < V) ctx.warn(`the tokenizer has ${tokenizer.vocabSize} ids but the model ${V}; ids beyond the tokenizer are printed as nothing`);
      ctx.claimStdout();
      const decoder = new StreamingTextDecoder();
      if (o.echo) process.stdout.write(o.prompt);
      const t0 = performance.now();
      let count = 0;
      const gen = generateTokens(model, prompt, {
        maxTokens: o.maxTokens, temperature: o.temperature, topP: o.topP, topK: o.topK,
        stopIds: stopId === undefined ? [] : [stopId],
      }, new Rng(o.seed));
      let reason: string;
      for (;;) {
        if (ctx.signal.aborted) { reason = 'interrupted'; await gen.return('max-tokens'); break; }
        const r = await gen.next();
        if (r.done) { reason = r.value; break; }
        count++;
        if (r.value < tokenizer.vocabSize) process.stdout.write(decoder.push(tokenizer.tokenBytes(r.value)));
      }
      process.stdout.write(`${decoder.flush()}\n`);
      const seconds = (performance.now() - t0) / 1000;
      const report = precisionReport(precision);
      const fellBack = fallbackWarning(report);
      if (fellBack) ctx.warn(fellBack);
      return { prompt_tokens: prompt.length, tokens: count, stop: reason, tokens_per_s: seconds > 0 ? count / seconds : 0, tokenizer: tokDir, precision: report };
    } finally {
      restorePrecision();
      model.dispose();
    }
  },
});

await runIfMain(generate, import.meta.url);
