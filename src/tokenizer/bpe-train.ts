/**
 * Byte-level BPE training with exactly the CS336 reference semantics:
 * split on special tokens (leftmost, longest), pretokenize each piece with the
 * GPT-2 pattern, count pretokens as UTF-8 byte strings, then repeatedly merge
 * the most frequent adjacent pair (ties: the lexicographically greater pair of
 * byte strings). Vocab ids: special tokens, then the 256 bytes, then merges.
 *
 * The corpus is streamed in chunks cut at safe positions (chunking.ts) and
 * counted on worker threads; the merge loop is incremental (bpe-merge.ts).
 */
import { open } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { UserError } from '../pipeline/errors.ts';
import { DEFAULT_TRAIN_MAX_PRETOKEN_BYTES, NoSafeCutError, SafeRechunker, longStretchMessage, type SafeChunk } from './chunking.ts';
import { learnMerges } from './bpe-merge.ts';
import { autoWorkers, countStream } from './pretoken-count-parallel.ts';

/** A part of a streamed input; `last` ends one document source (e.g. a file). */
export interface InputPart {
  data: Uint8Array;
  last?: boolean;
  /** The source's name, for error messages (e.g. the file, or - for stdin). */
  file?: string;
}

/**
 * Training text: a file path, several paths (each file is its own text: no
 * pretoken or merge crosses files), bytes in memory, or a stream of parts.
 */
export type BpeInput = string | readonly string[] | Uint8Array | AsyncIterable<InputPart | Uint8Array>;

/** Progress of a training run. */
export interface TrainProgress {
  phase: 'count' | 'merge';
  done: number;
  /** Total for the phase, or -1 when unknown (streamed input). */
  total: number;
}

export interface TrainBpeOptions {
  input: BpeInput;
  /** Final vocab size, special tokens included (at least 256 + specials). */
  vocabSize: number;
  specialTokens?: readonly string[];
  /**
   * Counting threads; 0 counts on this thread only. Default 'auto': as many
   * as pay off for the input size (see autoWorkers), at most one per core.
   */
  workers?: number | 'auto';
  /** Target chunk size in bytes (default 8 MiB). */
  chunkBytes?: number;
  /**
   * Longest stretch without a safe cut (in practice: one pretoken, such as
   * a run of one letter) that is held whole and counted exactly; a longer
   * one is a UserError naming the file and offset (CLI: --max-pretoken-mb).
   * Chunks are cut no larger than this. Default DEFAULT_TRAIN_MAX_PRETOKEN_BYTES.
   */
  maxPretokenBytes?: number;
  onProgress?: (p: TrainProgress) => void;
}

/** A learned token, for reports. */
export interface TokenSummary {
  id: number;
  bytes: number;
  /** The token decoded as UTF-8 (invalid bytes as U+FFFD); past 200 bytes cut short, ending in "…". */
  text: string;
}

export interface TrainBpeStats {
  inputBytes: number;
  /** Non-empty pieces of text between special tokens (and input boundaries). */
  documents: number;
  specialTokenOccurrences: number;
  pretokens: number;
  uniquePretokens: number;
  /** Invalid UTF-8 subparts, each kept as bytes (one U+FFFD each if decoded). */
  invalidUtf8: number;
  merges: number;
  /** True when training stopped early because no pair was left. */
  stoppedEarly: boolean;
  /** Counting threads used (0: the main thread only). */
  workers: number;
  chunks: number;
  /** Chunks the main thread counted itself (while threads were busy or starting). */
  chunksOnMainThread: number;
  timeMs: { count: number; merge: number; total: number };
  /** CPU time of the whole process (all threads) per phase; on a busy machine wall time is higher. */
  cpuMs: { count: number; merge: number };
  longestTokens: TokenSummary[];
}

export interface TrainBpeResult {
  /** id -> bytes: special tokens, then the 256 bytes, then one per merge. */
  vocab: Map<number, Uint8Array>;
  merges: Array<[Uint8Array, Uint8Array]>;
  specialTokens: string[];
  stats: TrainBpeStats;
}

const DEFAULT_CHUNK_BYTES = 8 << 20;

function validate(opts: TrainBpeOptions): string[] {
  const specials = [...(opts.specialTokens ?? [])];
  const seen = new Set<string>();
  for (const s of specials) {
    if (s.length === 0) throw new UserError('a special token is the empty string; remove it from the special tokens');
    if (seen.has(s)) throw new UserError(`special token ${JSON.stringify(s)} is given twice; list each special token once`);
    seen.add(s);
  }
  const min = 256 + specials.length;
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < min) {
    throw new UserError(
      `vocab size ${opts.vocabSize} is too small: it must be an integer of at least 256 bytes + ${specials.length} special token(s) = ${min}; raise the vocab size`,
    );
  }
  if (opts.workers !== undefined && opts.workers !== 'auto' && (!Number.isInteger(opts.workers) || opts.workers < 0)) {
    throw new UserError(`workers must be 'auto' or a whole number >= 0, got ${opts.workers}`);
  }
  if (opts.chunkBytes !== undefined && (!Number.isInteger(opts.chunkBytes) || opts.chunkBytes < 64)) {
    throw new UserError(`chunk size must be a whole number of at least 64 bytes, got ${opts.chunkBytes}`);
  }
  if (opts.maxPretokenBytes !== undefined && !(opts.maxPretokenBytes >= 64)) {
    throw new UserError(`the longest pretoken limit must be at least 64 bytes, got ${opts.maxPretokenBytes}`);
  }
  return specials;
}

/** Total input size when it is known up front, else -1. */
function knownSize(input: BpeInput): number {
  if (typeof input === 'string') return fileSize(input);
  if (input instanceof Uint8Array) return input.length;
  if (Array.isArray(input)) return (input as readonly string[]).reduce((t, p) => t + fileSize(p), 0);
  return -1;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`cannot read training input ${path}: ${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message}; check the path`);
  }
}

async function* fileParts(path: string, readBytes: number): AsyncGenerator<InputPart> {
  yield { data: new Uint8Array(0), file: path };
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    throw new UserError(`cannot open training input ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; check the path`);
  }
  try {
    const buf = Buffer.allocUnsafeSlow(readBytes);
    let offset = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, readBytes, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
      yield { data: buf.subarray(0, bytesRead), file: path };
    }
    yield { data: new Uint8Array(0), last: true, file: path };
  } finally {
    await handle.close();
  }
}

async function* inputParts(input: BpeInput, readBytes: number): AsyncGenerator<InputPart> {
  if (typeof input === 'string') {
    yield* fileParts(input, readBytes);
  } else if (input instanceof Uint8Array) {
    yield { data: input, last: true };
  } else if (Array.isArray(input)) {
    for (const p of input as readonly string[]) yield* fileParts(p, readBytes);
  } else {
    for await (const part of input as AsyncIterable<InputPart | Uint8Array>) {
      yield part instanceof Uint8Array ? { data: part } : part;
    }
    yield { data: new Uint8Array(0), last: true };
  }
}

/**
 * Safe chunks of the whole input; every source's end is a document boundary.
 * A stretch of more than `maxHeld` bytes without a safe cut is a UserError
 * naming the source and the offset where the stretch starts.
 */
async function* safeChunks(input: BpeInput, chunkBytes: number, specials: readonly string[], maxHeld: number): AsyncGenerator<SafeChunk> {
  const rechunker = new SafeRechunker(chunkBytes, specials, maxHeld);
  let source = 'the training input';
  try {
    for await (const part of inputParts(input, Math.min(chunkBytes, 4 << 20))) {
      if (part.file !== undefined) source = part.file === '-' ? 'stdin' : part.file;
      if (part.data.length > 0) yield* rechunker.push(part.data);
      if (part.last) yield* rechunker.end();
    }
    yield* rechunker.end();
  } catch (e) {
    if (e instanceof NoSafeCutError) throw new UserError(longStretchMessage(source, e.offset, e.limit, 'train on it exactly'));
    throw e;
  }
}

const textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** Trains a byte-level BPE tokenizer; see the module comment for the exact rules. */
export async function trainBpe(opts: TrainBpeOptions): Promise<TrainBpeResult> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const specials = validate(opts);
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const size = knownSize(opts.input);
  // A single chunk gains nothing from threads, whose start-up would dominate.
  const workers = size >= 0 && size <= chunkBytes ? 0
    : opts.workers === undefined || opts.workers === 'auto' ? autoWorkers(size, availableParallelism())
      : opts.workers;
  const progress = opts.onProgress;

  let countedBytes = 0;
  // Chunks are no larger than the limit, so a pretoken longer than it never fits one with a cut after it.
  const maxHeld = Math.max(64, opts.maxPretokenBytes ?? DEFAULT_TRAIN_MAX_PRETOKEN_BYTES);
  const counted = await countStream(safeChunks(opts.input, Math.min(chunkBytes, maxHeld), specials, maxHeld), specials, workers, (bytes) => {
    countedBytes += bytes;
    progress?.({ phase: 'count', done: countedBytes, total: size });
  });
  const t1 = performance.now();
  const c1 = process.cpuUsage();
  if (counted.stats.pretokens === 0) {
    throw new UserError(
      counted.stats.bytes === 0
        ? 'the training input is empty; pass a file with text'
        : `the training input has no text outside special tokens (${counted.stats.bytes} bytes read); pass a corpus with text`,
    );
  }

  const numMerges = opts.vocabSize - specials.length - 256;
  const learned = learnMerges(counted.counts, numMerges, progress && ((done) => progress({ phase: 'merge', done, total: numMerges })));
  const t2 = performance.now();
  const c2 = process.cpuUsage();

  const vocab = new Map<number, Uint8Array>();
  specials.forEach((s, i) => vocab.set(i, new Uint8Array(Buffer.from(s, 'utf8'))));
  const base = specials.length;
  for (let t = 0; t < learned.tokenBytes.length; t++) vocab.set(base + t, learned.tokenBytes[t]);
  const merges: Array<[Uint8Array, Uint8Array]> = [];
  for (let m = 0; m < learned.pairs.length / 2; m++) {
    merges.push([learned.tokenBytes[learned.pairs[2 * m]], learned.tokenBytes[learned.pairs[2 * m + 1]]]);
  }

  const longest = learned.tokenBytes
    .map((b, t) => ({ t, len: b.length }))
    .slice(256)
    .sort((x, y) => y.len - x.len || x.t - y.t)
    .slice(0, 5)
    .map(({ t, len }) => ({ id: base + t, bytes: len, text: shownText(learned.tokenBytes[t]) }));

  const stats: TrainBpeStats = {
    inputBytes: counted.stats.bytes,
    documents: counted.documents,
    specialTokenOccurrences: counted.stats.specials,
    pretokens: counted.stats.pretokens,
    uniquePretokens: counted.counts.lens.length,
    invalidUtf8: counted.stats.invalidUtf8,
    merges: merges.length,
    stoppedEarly: merges.length < numMerges,
    workers,
    chunks: counted.chunks,
    chunksOnMainThread: counted.chunksOnMain,
    timeMs: { count: round1(t1 - t0), merge: round1(t2 - t1), total: round1(performance.now() - t0) },
    cpuMs: { count: cpuMs(c0, c1), merge: cpuMs(c1, c2) },
    longestTokens: longest,
  };
  return { vocab, merges, specialTokens: specials, stats };
}

/** Longest text of a token shown in reports; longer tokens are cut with an ellipsis. */
const SHOWN_BYTES = 200;

/** A token decoded for reports: whole when short, else its first SHOWN_BYTES bytes (whole characters) and "…". */
function shownText(bytes: Uint8Array): string {
  if (bytes.length <= SHOWN_BYTES) return textDecoder.decode(bytes);
  let end = SHOWN_BYTES;
  while (end > SHOWN_BYTES - 4 && (bytes[end] & 0xc0) === 0x80) end--;
  return `${textDecoder.decode(bytes.subarray(0, end))}…`;
}

function cpuMs(a: NodeJS.CpuUsage, b: NodeJS.CpuUsage): number {
  return round1((b.user - a.user + b.system - a.system) / 1000);
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
