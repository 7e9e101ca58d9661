/**
 * Option specs shared by the pipelines, declared once so that a flag means
 * the same (name, short letter, placeholder, range) wherever it appears. A
 * pipeline uses one as it is or spreads it with its own wording:
 *
 *   options: { input: inputOption, out: { ...outOption, placeholder: 'FILE', description: '...' } }
 *
 * This module stays light (no TensorFlow.js): the backend names come from
 * the caller, which has loaded src/backends/registry.ts anyway.
 */
import { availableParallelism } from 'node:os';
import type { BooleanOption, NumberOption, StringListOption, StringOption } from './define.ts';
import { UserError } from './errors.ts';

/** `--input GLOB` (-i): text files as fast-glob patterns, repeatable, `-` for stdin (src/stages/read-inputs.ts). */
export const inputOption = {
  type: 'string', multiple: true, required: true, short: 'i', placeholder: 'GLOB',
  description: 'input text files (glob; repeatable; - for stdin)',
} as const satisfies StringListOption;

/** `--out PATH` (-o): where the pipeline writes; spread with the placeholder (FILE, DIR) and wording it needs. */
export const outOption = {
  type: 'string', required: true, short: 'o', placeholder: 'PATH', description: 'output path',
} as const satisfies StringOption;

/** `--tokenizer DIR` (-t): a tokenizer directory as train-bpe writes it. */
export const tokenizerOption = {
  type: 'string', required: true, short: 't', placeholder: 'DIR',
  description: 'tokenizer directory (vocab.json + merges.txt [+ lmpipe.json])',
} as const satisfies StringOption;

/** `--config FILE` (-c): a JSON config file. */
export const configOption = {
  type: 'string', short: 'c', placeholder: 'FILE', description: 'config JSON file',
} as const satisfies StringOption;

/** `--checkpoint DIR`: a checkpoint directory (a run directory or its best/). */
export const checkpointOption = {
  type: 'string', required: true, placeholder: 'DIR',
  description: 'checkpoint directory (config.json + model.safetensors; a run directory or its best/)',
} as const satisfies StringOption;

/**
 * `--workers N|auto` (default auto): worker threads, 0 for the main thread
 * alone, or as many as pay off for the input's size, which each pipeline
 * decides; `what` names the threads in the help. Read it with `parseWorkers`.
 */
export function workersOption(what: string) {
  return {
    type: 'string', default: 'auto', placeholder: 'N',
    description: `${what}: a number (0: the main thread alone) or auto (by input size, at most ${availableParallelism()} here)`,
  } as const satisfies StringOption;
}

/** The `--workers` value: a whole number up to 64, or 'auto'; a UserError otherwise. */
export function parseWorkers(value: string): number | 'auto' {
  if (value === 'auto') return value;
  if (!/^\d+$/.test(value) || Number(value) > 64) throw new UserError(`invalid value '${value}' for --workers: expected auto or a whole number from 0 to 64`);
  return Number(value);
}

/** `--backend NAME` (default auto) for the given backend names (BACKEND_NAMES of src/backends/registry.ts). */
export function backendOption<N extends string>(names: readonly N[]) {
  return {
    type: 'string', choices: names, default: 'auto', placeholder: 'NAME', description: 'TensorFlow.js backend',
  } as const satisfies StringOption;
}

/**
 * `--backend NAME` without a parser default, where an unset flag defers to
 * a config (`inherited` says whose, for --help).
 */
export function backendOverrideOption<N extends string>(names: readonly N[], inherited: string) {
  return {
    type: 'string', choices: names, placeholder: 'NAME', description: 'TensorFlow.js backend', helpDefault: inherited,
  } as const satisfies StringOption;
}

/**
 * The document stages' flags (filter-docs, dedup-docs; src/stages/), offered
 * by every pipeline that reads corpora. All off by default.
 */
export const documentOptions = {
  minDocBytes: { type: 'int', default: 0, min: 0, placeholder: 'N', description: 'drop documents shorter than N bytes' },
  keepRegex: { type: 'string', placeholder: 'RE', description: 'keep only documents matching this JavaScript regular expression' },
  dropRegex: { type: 'string', placeholder: 'RE', description: 'drop documents matching this JavaScript regular expression' },
  dedup: { type: 'boolean', description: 'drop exact duplicate documents (the first is kept)' },
  dedupMaxMb: { type: 'number', default: 256, min: 1, placeholder: 'N', description: 'memory for the --dedup hash table in MB' },
} as const satisfies Record<string, StringOption | NumberOption | BooleanOption>;

/**
 * `--shard I/N | auto` and `--shard-count N` (src/pipeline/shard.ts): run
 * one part of a job; `auto` takes the index from the batch engine
 * (Slurm array, Kubernetes Indexed Job, GNU parallel, …).
 */
export const shardOptions = {
  shard: { type: 'string', placeholder: 'I/N|auto', description: 'run shard I of N (0-based) of the input, or auto: the index from the batch engine (LMPIPE_SHARD, SLURM_ARRAY_TASK_ID, BATCH_TASK_INDEX, JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX, PARALLEL_SEQ); --out is then a directory of parts' },
  shardCount: { type: 'int', min: 1, placeholder: 'N', description: 'the number of shards, for --shard auto where the engine does not say it' },
} as const satisfies Record<string, StringOption | NumberOption>;

/**
 * The reader's format flags (src/stages/formats/), offered by every pipeline
 * that reads corpora; spread them into its options and pass
 * `readerOptions(o, separator)` (src/stages/formats/index.ts) to its read
 * stage. Inputs are read by their name: text, .gz, .zst, .jsonl/.json
 * (plain, .gz, .zst) and .parquet.
 */
export const formatOptions = {
  textField: {
    type: 'string', default: 'text', placeholder: 'NAME',
    description: 'JSON Lines field / Parquet column holding each document (.jsonl, .json, .jsonl.gz, .jsonl.zst, .parquet inputs)',
  },
  skipBadRecords: {
    type: 'boolean',
    description: 'skip (and count) JSON Lines records that are not JSON or lack the text field, and null Parquet values, instead of stopping',
  },
  forceText: {
    type: 'boolean',
    description: 'read text-named inputs as text even when they look binary (compressed or Parquet data, control bytes)',
  },
} as const satisfies Record<string, StringOption | BooleanOption>;

/** `--engine NAME`: the tokenizer core (src/tokenizer/tokenizer-engine.ts). */
export const engineOption = {
  type: 'string', choices: ['auto', 'native', 'ts'], default: 'auto', placeholder: 'NAME',
  description: 'tokenizer core: native (C++ in the addon), ts (the TypeScript reference) or auto (native when built); the same ids and counts either way',
} as const satisfies StringOption;
