/**
 * Byte-level BPE training with exactly the CS336 reference semantics:
 * split on special tokens (leftmost, longest), pretokenize each piece with the
 * GPT-2 pattern, count pretokens as UTF-8 byte strings, then repeatedly merge
 * the most frequent adjacent pair (ties: the lexicographically greater pair of
 * byte strings). Vocab ids: special tokens, then the 256 bytes, then merges.
 *
 * Counting is a chain of stages (read → cut at safe positions → count on
 * worker threads → tally; see stages/), so the train-bpe pipeline can put
 * document stages in it; the merge loop that follows is incremental
 * (bpe-learn-merges.ts).
 */
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { UserError } from '../pipeline/errors.ts';
import { chain, runChain, type Stage, type StageReport } from '../pipeline/stage.ts';
import { countPretokens, tallyCounts, type StreamCounts } from '../stages/count-pretokens.ts';
import { cutUnits } from '../stages/cut.ts';
import type { Unit } from '../stages/items.ts';
import { readFiles } from '../stages/read.ts';
import { autoWorkers, slowWorkerStart } from '../pipeline/worker-pool.ts';
import { DEFAULT_TRAIN_MAX_PRETOKEN_BYTES, safeCutFinder } from './chunking.ts';
import { learnMerges } from './bpe-learn-merges.ts';
import { SpecialMatcher } from './special-matcher.ts';

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
  /** The counting chain's per-stage time and counts (read, cut, count, tally, and any document stages). */
  stages: Record<string, StageReport>;
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

/** Checks the special tokens (non-empty, each once) and that the vocab size holds them and the 256 bytes; returns them. */
export function validateSpecials(specialTokens: readonly string[], vocabSize: number): string[] {
  const specials = [...specialTokens];
  const seen = new Set<string>();
  for (const s of specials) {
    if (s.length === 0) throw new UserError('a special token is the empty string; remove it from the special tokens');
    if (seen.has(s)) throw new UserError(`special token ${JSON.stringify(s)} is given twice; list each special token once`);
    seen.add(s);
  }
  const min = 256 + specials.length;
  if (!Number.isInteger(vocabSize) || vocabSize < min) {
    throw new UserError(
      `vocab size ${vocabSize} is too small: it must be an integer of at least 256 bytes + ${specials.length} special token(s) = ${min}; raise the vocab size`,
    );
  }
  return specials;
}

function validate(opts: TrainBpeOptions): string[] {
  const specials = validateSpecials(opts.specialTokens ?? [], opts.vocabSize);
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

/** The read stage for a `BpeInput`: files are read by the one reader; bytes and streams become units. */
export function bpeSource(input: BpeInput, readBytes: number): Stage<void, Unit> {
  if (typeof input === 'string' || Array.isArray(input)) {
    const paths = typeof input === 'string' ? [input] : (input as readonly string[]);
    return readFiles({ files: paths.map((path) => ({ path, size: fileSize(path) })), chunkBytes: readBytes });
  }
  const bytes = input instanceof Uint8Array ? input : null;
  return {
    name: 'read',
    description: bytes ? 'the training text in memory' : 'the streamed training text',
    bytesOf: (u) => u.data.length,
    ...(bytes ? { totalBytes: bytes.length } : {}),
    async *run() {
      if (bytes) {
        yield { seq: 0, file: 'the training input', offset: 0, data: bytes, last: true };
        return;
      }
      let seq = 0;
      let file = 'the training input';
      let offset = 0;
      for await (const p of input as AsyncIterable<InputPart | Uint8Array>) {
        const part: InputPart = p instanceof Uint8Array ? { data: p } : p;
        if (part.file !== undefined && part.file !== file) { file = part.file; offset = 0; }
        yield { seq: seq++, file, offset, data: part.data, last: part.last === true };
        offset = part.last ? 0 : offset + part.data.length;
      }
      yield { seq: seq++, file, offset, data: new Uint8Array(0), last: true };
    },
  };
}

/**
 * The cut stage for counting: units of about `chunkBytes` (the cutter keeps
 * them no larger than `maxHeld`) ending at safe cuts; a longer stretch
 * without one is a UserError.
 */
export function bpeCut(specialTokens: readonly string[], chunkBytes: number, maxHeld: number): Stage<Unit, Unit> {
  return cutUnits({
    findCut: safeCutFinder(new SpecialMatcher(specialTokens)),
    unitBytes: chunkBytes,
    maxHeldBytes: maxHeld,
    purpose: 'train on it exactly',
    description: 'cut the text where counting the parts separately gives the same counts (special tokens, pretoken ends)',
  });
}

/**
 * Counting threads for `workers` and the unit size. 'auto': as many as pay
 * off for `size` bytes (-1 unknown; `autoWorkers`), one per 200 MB under
 * tsx and 80 MB with Node's own type stripping. Measured with train-bpe
 * (2 cores, books.txt repeated, 10k vocabulary, process wall, 0 / 1 / 2
 * threads): under tsx 1.70 / 1.91 / 2.21 s at 50 MB, 1.95 / 2.10 / 2.33 s at
 * 160 MB, 2.93 / 2.86 / 2.89 s at 400 MB, 5.16 / – / 4.78 s at 1 GB; with
 * Node's type stripping 1.45 / 1.49 / 1.73, 1.82 / 1.80 / 1.84, 2.68 / 2.55
 * / 2.54, 5.88 / 4.12 / 3.61 s.
 */
export function countingWorkers(workers: number | 'auto' | undefined, size: number, chunkBytes: number, slowStart: boolean = slowWorkerStart()): number {
  // A single unit gains nothing from threads, whose start-up would dominate.
  if (size >= 0 && size <= chunkBytes) return 0;
  return workers === undefined || workers === 'auto' ? autoWorkers(size, availableParallelism(), slowStart ? 200 << 20 : 80 << 20) : workers;
}

const textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** Trains a byte-level BPE tokenizer; see the module comment for the exact rules. */
export async function trainBpe(opts: TrainBpeOptions): Promise<TrainBpeResult> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const specials = validate(opts);
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const size = knownSize(opts.input);
  const workers = countingWorkers(opts.workers, size, chunkBytes);
  const maxHeld = Math.max(64, opts.maxPretokenBytes ?? DEFAULT_TRAIN_MAX_PRETOKEN_BYTES);
  const progress = opts.onProgress;
  const count = countPretokens({ specialTokens: specials, workers });
  let counted: StreamCounts;
  let stages: Record<string, StageReport>;
  try {
    ({ result: counted, stages } = await runChain(chain(
      bpeSource(opts.input, Math.min(chunkBytes, 4 << 20)),
      bpeCut(specials, chunkBytes, maxHeld),
      count,
      tallyCounts(progress && ((bytes) => progress({ phase: 'count', done: bytes, total: size }))),
    ), { signal: new AbortController().signal, log: () => {}, warn: () => {} }));
  } finally {
    await count.close();
  }
  return bpeFromCounts(counted, { vocabSize: opts.vocabSize, specialTokens: specials, workers, unitsOnMainThread: count.unitsOnMainThread, stages, onProgress: progress, started: { t: t0, cpu: c0 } });
}

/** How `bpeFromCounts` finishes a training run. */
export interface FromCountsOptions {
  vocabSize: number;
  specialTokens: readonly string[];
  /** For the stats: the counting threads and the units the main thread counted. */
  workers: number;
  unitsOnMainThread: number;
  /** The counting chain's per-stage report (its time is the stats' count time). */
  stages: Record<string, StageReport>;
  onProgress?: (p: TrainProgress) => void;
  /** When the run (counting) started: performance.now() and process.cpuUsage(). */
  started: { t: number; cpu: NodeJS.CpuUsage };
}

/**
 * The rest of training once the pretokens are counted: learn the merges and
 * build the vocabulary (special tokens, the 256 bytes, one token per merge).
 */
export function bpeFromCounts(counted: StreamCounts, o: FromCountsOptions): TrainBpeResult {
  const specials = [...o.specialTokens];
  const t1 = performance.now();
  const c1 = process.cpuUsage();
  if (counted.stats.pretokens === 0) {
    throw new UserError(
      counted.stats.bytes === 0
        ? 'the training input is empty; pass a file with text'
        : `the training input has no text outside special tokens (${counted.stats.bytes} bytes read); pass a corpus with text`,
    );
  }
  const progress = o.onProgress;
  const numMerges = o.vocabSize - specials.length - 256;
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
    workers: o.workers,
    chunks: counted.units,
    chunksOnMainThread: o.unitsOnMainThread,
    timeMs: { count: round1(t1 - o.started.t), merge: round1(t2 - t1), total: round1(performance.now() - o.started.t) },
    cpuMs: { count: cpuMs(o.started.cpu, c1), merge: cpuMs(c1, c2) },
    stages: o.stages,
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
