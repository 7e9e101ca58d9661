/**
 * Checks that run before training or evaluation allocates anything, each
 * refusing with one UserError line that names the problem and the fix:
 * whether the model and batch fit in memory (one estimate,
 * src/accounting/memory.ts, against what the machine can hold), whether the
 * token files' ids mean what the model expects (src/train/token-data.ts),
 * and whether paths that must be directories are.
 */
import { statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { MAX_TENSOR_ELEMENTS, estimateMemory, largestBatchWithin } from '../accounting/memory.ts';
import type { MemoryEstimate, OpsKind } from '../accounting/memory.ts';
import { parameterBreakdown } from '../accounting/parameters.ts';
import type { ModelConfig } from '../model/config.ts';
import { UserError } from '../pipeline/errors.ts';
import { formatQuantity } from '../pipeline/progress.ts';
import { Tokenizer } from '../tokenizer/tokenizer.ts';
import { machineMemory } from '../util/memory.ts';
import type { MachineMemory } from '../util/memory.ts';
import { checkSameTokenizer, checkTokenFile } from './token-data.ts';
import type { TokenExpectation } from './token-data.ts';
import type { TrainConfig } from './train-config.ts';

/** The model's shape in one phrase: "d_model 512, 4 layers, 16 heads, d_ff 1344, vocab 10000, context 256". */
export function describeModel(m: ModelConfig): string {
  return `d_model ${m.d_model}, ${m.num_layers} layer${m.num_layers === 1 ? '' : 's'}, ${m.num_heads} head${m.num_heads === 1 ? '' : 's'}, d_ff ${m.d_ff}, vocab ${m.vocab_size}, context ${m.context_length}`;
}

/** Where a backend keeps its tensors and which ops it runs (see OpsKind). */
export function backendMemory(backend: string): { place: 'host' | 'device'; ops: OpsKind } {
  if (backend === 'webgpu' || backend === 'tfjs-node-gpu') return { place: 'device', ops: 'plain' };
  // auto picks native on a machine without a GPU (and the GPU backends otherwise, where RAM is not the limit).
  if (backend === 'native' || backend === 'auto') return { place: 'host', ops: 'fused' };
  return { place: 'host', ops: 'plain' };
}

/** Options of `checkMemory`. */
export interface MemoryCheckOptions {
  batchSize: number;
  /** The backend in use (or configured): decides fused vs plain attention and RAM vs GPU memory. */
  backend: string;
  /** AdamW training (default) or a forward pass only. */
  training?: boolean;
  /** The batch-size knob's name in messages ("batch_size", "--batch-size"). */
  batchKnob?: string;
  /** The other knobs to name in a refusal; null when the model is fixed (a checkpoint). */
  otherKnobs?: string | null;
  /** Prefix of the messages (e.g. a sweep run's name). */
  where?: string;
  /** The run happens in another process (a sweep's trainer), which holds none of this one's memory. */
  otherProcess?: boolean;
}

/** What `checkMemory` found. */
export interface MemoryCheck {
  estimate: MemoryEstimate;
  machine: MachineMemory;
  place: 'host' | 'device';
  /** Bytes this process still has to allocate (the estimate less what it already holds). */
  need: number;
  /** A warning line when the estimate comes close to what is available, else null. */
  warning: string | null;
}

/** Above this share of the available memory a run is warned about. */
export const MEMORY_WARN_SHARE = 0.8;

const bytes = (n: number): string => formatQuantity(n, 'bytes');

/**
 * Estimates the peak memory of training (or evaluating) `model` at
 * `batchSize` on `backend` and refuses, before anything is allocated, a run
 * that cannot fit: a tensor beyond what a typed array holds, or (for the
 * host backends) an estimate beyond the memory available now. Returns the
 * estimate, with a warning when it is close.
 */
export function checkMemory(model: ModelConfig, options: MemoryCheckOptions, machine: MachineMemory = machineMemory()): MemoryCheck {
  const training = options.training ?? true;
  const { place, ops } = backendMemory(options.backend);
  const params = parameterBreakdown(model).total;
  const estimate = estimateMemory(model, params, { batchSize: options.batchSize, training, ops });
  const batchKnob = options.batchKnob ?? 'batch_size';
  const knobs = options.otherKnobs === undefined ? 'context_length, d_model, num_layers or vocab_size' : options.otherKnobs;
  const prefix = options.where ? `${options.where}: ` : '';
  const what = `model ${describeModel(model)} (${formatQuantity(params, 'items')} parameters)`;
  const t = estimate.largestTensor;
  if (t.elements > MAX_TENSOR_ELEMENTS) {
    throw new UserError(`${prefix}${what} at ${batchKnob} ${options.batchSize}: its ${t.name} would hold ${t.elements.toExponential(2)} values, more than the ${MAX_TENSOR_ELEMENTS} a tensor can; lower ${batchKnob}${knobs === null ? '' : `, ${knobs}`}`);
  }
  const held = options.otherProcess ? 0 : Math.min(process.memoryUsage().rss, estimate.runtime);
  const need = Math.max(0, estimate.total - held);
  const task = training ? `to train with AdamW at ${batchKnob} ${options.batchSize}` : `to evaluate at ${batchKnob} ${options.batchSize}`;
  const parts = `${training ? 'weights, gradients and AdamW moments' : 'weights'} ${bytes(estimate.weights)}, activations ${bytes(estimate.activations)}`;
  if (place === 'host' && need > machine.available) {
    const fits = largestBatchWithin(estimate, machine.available + held);
    const fix = fits > 0 ? `lower ${batchKnob} (${fits} fits)${knobs === null ? '' : `, or ${knobs}`}`
      : `even ${batchKnob} 1 does not fit: ${knobs === null ? 'this model needs a machine with more memory' : `lower ${knobs}`}`;
    throw new UserError(`${prefix}${what} needs about ${bytes(estimate.total)} ${task} on backend ${options.backend} (${parts}), but ${bytes(machine.available)} is available (${machine.source}); ${fix}`);
  }
  let warning: string | null = null;
  if (place === 'host' && need > MEMORY_WARN_SHARE * machine.available) {
    warning = `${prefix}the estimated ${bytes(estimate.total)} is close to the ${bytes(machine.available)} available (${machine.source}); the run may swap or be killed: lower ${batchKnob}${knobs === null ? '' : ` or ${knobs}`} to be safe`;
  }
  return { estimate, machine, place, need, warning };
}

/** The path's stats, or null when it does not exist (or cannot be read). */
function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** Refuses a path that exists but is not a directory (a run directory, a tokenizer directory). */
export function checkDirectoryArg(path: string, what: string, expected: string): void {
  const st = statOrNull(path);
  if (st !== null && !st.isDirectory()) throw new UserError(`${what} ${path} is a file, not a directory; ${expected}`);
}

/**
 * Checks a training config's data before anything is allocated, after
 * tokenizer-check.ts has made train_data, val_data and tokenizer agree:
 * `out` and `tokenizer` are not files, both token files' ids lie within
 * model.vocab_size (by sidecar, or a scan of a file without one), and a
 * resumed run's training data comes from the tokenizer it was trained on
 * (`recorded`, from recordedTokenData).
 */
export function checkTrainingData(config: TrainConfig, recorded: TokenExpectation | null = null): void {
  checkDirectoryArg(config.out, 'out', 'give the run directory (new or empty) with --out');
  if (config.tokenizer) checkDirectoryArg(config.tokenizer, 'tokenizer', 'give the tokenizer directory (vocab.json + merges.txt) the data was encoded with');
  const vocab = config.model.vocab_size;
  const minTokens = config.model.context_length + 1;
  checkTokenFile(config.train_data, 'train_data', vocab, { expected: recorded, minTokens });
  if (config.val_data) checkTokenFile(config.val_data, 'val_data', vocab, { minTokens });
}

/**
 * Refuses a tokenizer directory that is not the one `expected` names:
 * loaded with the recorded special tokens, its vocabulary size and identity
 * must be the recorded ones (checkSameTokenizer, shared with token files).
 */
export function checkTokenizerDir(dir: string, expected: TokenExpectation, fix: string): void {
  checkDirectoryArg(dir, 'tokenizer', 'give the tokenizer directory (vocab.json + merges.txt)');
  const tok = Tokenizer.fromDir(dir, expected.identity.special_tokens);
  checkSameTokenizer(`tokenizer ${dir}`, { vocabSize: tok.vocabSize, tokenizerHash: tok.hash(), matches: (h) => tok.matchesHash(h) }, expected.identity, expected.from, fix);
}

/**
 * The first line train logs: the model, its parameters and its estimated
 * memory; `defaulted` lists the model keys that came from the defaults
 * (all of them: "default model: …; set --model to choose").
 */
export function modelLine(model: ModelConfig, check: MemoryCheck, batchSize: number, backend: string, defaulted: readonly string[]): string {
  const where = check.place === 'device' ? `${backend}; GPU memory is not checked` : backend;
  const desc = `${describeModel(model)} (${formatQuantity(check.estimate.parameters, 'items')} parameters, about ${bytes(check.estimate.total)} to train at batch_size ${batchSize} on ${where})`;
  if (defaulted.length >= 5) return `default model: ${desc}; set --model to choose`;
  return `model: ${desc}${defaulted.length > 0 ? `; ${defaulted.join(', ')} from the defaults` : ''}`;
}
