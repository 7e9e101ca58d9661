/**
 * The tokenizer's hot loops in the native addon (`native/src/tokenizer/`):
 * encoding a work unit to ids, counting a unit's pretokens for BPE training
 * and tallying the units' counts (`NativeTally`), bytes in and typed arrays
 * out. The TypeScript implementation (`bpe-encode.ts`, `pretoken-count.ts`)
 * stays the reference and the fallback: `nativeTokenizerAvailable()` says
 * whether this module can be used, and callers fall back to TypeScript when
 * it cannot (the addon is optional; `npm run build:native` builds it).
 *
 * Same results as the TypeScript path, by construction and by test
 * (`test/native-tokenizer.test.ts`):
 * - `NativeEncoder.encodeUnit(bytes, out)` returns the ids `encodeUnit`
 *   (`bpe-encode-unit.ts`) returns for a `BpeEncoder` of the same spec, in
 *   the same typed-array type (uint16 when the vocabulary fits);
 * - `countUnit` / `NativeCounter.count` return the same pretokens, counts and
 *   `CountStats` as a count task; the pretokens come in order of first
 *   occurrence (the TS table gives its hash order), which
 *   `PretokenTable.addAll` and the merge trainer do not depend on.
 * - `NativeTally` adds count sets up to the sums `PretokenTable.addAll`
 *   gives (`test/native-tally.test.ts`), also in order of first occurrence.
 *
 * Character classes (`\p{L}`, `\p{N}`, `\p{White_Space}`) come from the
 * running V8: at first use this module hands the addon a run table of those
 * very regex properties (`classRanges`, `unicode-classes.ts`), so both paths
 * follow the same Unicode version.
 *
 * The native code picks its fastest path (AVX-512BW, AVX2 or scalar) for the
 * CPU at run time; `setNativeTokenizerIsa` forces one (tests, benchmarks).
 *
 * Callers that must run with or without the addon use `createUnitEncoder` /
 * `createUnitCounter` ('auto': native when available, else TypeScript, with
 * the reason), and `createUnitTally`. Encoders, counters and tallies belong
 * to the thread that made them; worker threads build their own from the spec.
 */
import { UserError } from '../pipeline/errors.ts';
import { tryLoadNative, type NativeAddon, type NativeTokenizerIsa } from '../backends/native/addon.ts';
import { BpeEncoder, joinableJunctions, type EncoderSpec } from './bpe-encode.ts';
import { encodeUnit } from './bpe-encode-unit.ts';
import { PretokenTable, countChunk, emptyCountStats, type CountStats, type PretokenCounts } from './pretoken-count.ts';
import { SpecialMatcher } from './special-matcher.ts';
import { dtypeForVocab } from './token-dtype.ts';
import { classRanges } from './unicode-classes.ts';

export type { NativeTokenizerIsa } from '../backends/native/addon.ts';

/** Token ids in the narrowest type that holds every id of the vocabulary. */
export type { TokenIds } from './bpe-encode-unit.ts';
import type { TokenIds } from './bpe-encode-unit.ts';

/** A count task's result (`pretoken-count-worker.ts`). */
export interface NativeCountUnitResult {
  counts: PretokenCounts;
  stats: CountStats;
}

/**
 * Cache size of a native encoder: a table of 2^18 slots of 32 bytes (8 MB),
 * at most 3/4 of them filled (each slot a whole entry: key bytes and, for
 * most pretokens, the ids; see tok_core.h). `bench/tokenizer-core.ts
 * --cache-log2` measures others: 2^16 and 2^17 were cleared 2-5 times on
 * 16 MB of books.txt or mail, 2^18 never; 2^19 was no faster.
 */
export const DEFAULT_CACHE_SLOTS_LOG2 = 18;

const TOKENIZER_FUNCTIONS = ['tokSetClasses', 'tokHasClasses', 'tokEncoderCreate', 'tokEncode', 'tokTakeIds', 'tokCount', 'tokIsas'] as const;

let state: { addon: NativeAddon } | { reason: string } | null = null;

/** Loads the addon and hands it the class table, once. */
function init(): { addon: NativeAddon } | { reason: string } {
  if (state) return state;
  const addon = tryLoadNative();
  if (!addon) {
    state = { reason: 'the native addon is not built (npm run build:native)' };
  } else if (TOKENIZER_FUNCTIONS.some((f) => typeof addon[f] !== 'function')) {
    state = { reason: 'the native addon was built without the tokenizer core; rebuild it (npm run build:native)' };
  } else {
    try {
      // Once per process: another thread of this process (same V8) may have set it.
      if (!addon.tokHasClasses()) addon.tokSetClasses(classRanges());
      state = { addon };
    } catch (e) {
      state = { reason: `the native tokenizer failed to start (${String((e as Error).message).split('\n')[0]})` };
    }
  }
  return state;
}

/** Whether the native tokenizer can be used here, and why not. */
export function nativeTokenizerAvailable(): { ok: true } | { ok: false; reason: string } {
  const s = init();
  return 'addon' in s ? { ok: true } : { ok: false, reason: s.reason };
}

function addon(): NativeAddon {
  const s = init();
  if ('addon' in s) return s.addon;
  throw new Error(`native tokenizer unavailable: ${s.reason}`);
}

/** The code paths this CPU runs, scalar first (empty without the addon). */
export function nativeTokenizerIsas(): NativeTokenizerIsa[] {
  return nativeTokenizerAvailable().ok ? addon().tokIsas() : [];
}

/** The code path in use. */
export function nativeTokenizerIsa(): NativeTokenizerIsa {
  return addon().tokIsa();
}

/** Forces a code path for the whole process (tests, benchmarks); throws if this CPU cannot run it. */
export function setNativeTokenizerIsa(isa: NativeTokenizerIsa): NativeTokenizerIsa {
  return addon().tokSetIsa(isa);
}

/** Special tokens as the addon takes them: concatenated UTF-8 bytes and their lengths. */
function packSpecials(texts: readonly string[]): { bytes: Uint8Array; lens: Int32Array } {
  const enc = new TextEncoder();
  const parts = texts.map((t) => {
    if (t.length === 0) throw new UserError('a special token cannot be the empty string; remove it from the special-token list');
    return enc.encode(t);
  });
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  return { bytes, lens: Int32Array.from(parts, (p) => p.length) };
}

/** Frees native memory of objects dropped without `release()`. */
const finalizers = new FinalizationRegistry<() => void>((free) => free());

/**
 * A thread-bound native object (encoder, counter, tally): its handle, freed
 * by `release()` or, when the object is dropped, by the FinalizationRegistry.
 */
abstract class NativeHandle {
  private handle: number;
  private readonly token = {};
  private readonly free: (handle: number) => void;
  /** The message for use after release, e.g. "NativeEncoder: this encoder has been released". */
  private readonly releasedMessage: string;

  protected constructor(handle: number, free: (handle: number) => void, releasedMessage: string) {
    this.handle = handle;
    this.free = free;
    this.releasedMessage = releasedMessage;
    finalizers.register(this, () => free(handle), this.token);
  }

  /** Frees the native memory; the object cannot be used afterwards. Idempotent. */
  release(): void {
    if (this.handle === 0) return;
    this.free(this.handle);
    finalizers.unregister(this.token);
    this.handle = 0;
  }

  /** The handle, or an Error after `release()`. */
  protected live(): number {
    if (this.handle === 0) throw new Error(this.releasedMessage);
    return this.handle;
  }
}

function checkBytes(bytes: unknown, what: string): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${what}: bytes must be a Uint8Array (or Buffer)`);
}

/**
 * A native BPE encoder built from an `EncoderSpec`; the same ids as a
 * `BpeEncoder` of that spec. Not shareable between threads: build one per
 * thread from the (structured-clonable) spec. Call `release()` when done
 * (a dropped encoder is freed eventually, by a FinalizationRegistry).
 */
export class NativeEncoder extends NativeHandle {
  readonly spec: EncoderSpec;
  private readonly narrow: boolean;

  /** `cacheSlotsLog2`: pretoken cache size (2^n 32-byte slots; default DEFAULT_CACHE_SLOTS_LOG2). */
  constructor(spec: EncoderSpec, options: { cacheSlotsLog2?: number } = {}) {
    const a = addon();
    const specials = packSpecials(spec.specials.map((s) => s.text));
    const handle = a.tokEncoderCreate(
      spec.vocabSize, spec.byteToId, spec.merges, joinableJunctions(spec),
      specials.bytes, specials.lens, Int32Array.from(spec.specials, (s) => s.id),
      options.cacheSlotsLog2 ?? DEFAULT_CACHE_SLOTS_LOG2,
    );
    super(handle, (h) => a.tokEncoderRelease(h), 'NativeEncoder: this encoder has been released');
    this.spec = spec;
    this.narrow = dtypeForVocab(spec.vocabSize) === 'uint16';
  }

  /**
   * Encodes one self-contained unit of text bytes (special tokens included):
   * uint16 ids when the vocabulary fits, else uint32. The ids go into `out`
   * (from offset 0) when it is large enough, else into a new array of
   * exactly their length.
   */
  encodeUnit(bytes: Uint8Array, out: ArrayBuffer | null = null): TokenIds {
    checkBytes(bytes, 'NativeEncoder.encodeUnit');
    if (out !== null && !(out instanceof ArrayBuffer)) throw new TypeError('NativeEncoder.encodeUnit: out must be an ArrayBuffer or null');
    const a = addon();
    const handle = this.live();
    let n: number;
    try {
      n = a.tokEncode(handle, bytes, out, this.narrow);
    } catch (e) {
      if ((e as { code?: unknown }).code === 'LMPIPE_MISSING_BYTE') throw new UserError((e as Error).message);
      throw e;
    }
    if (n >= 0) return this.narrow ? new Uint16Array(out as ArrayBuffer, 0, n) : new Uint32Array(out as ArrayBuffer, 0, n);
    const ids = this.narrow ? new Uint16Array(-n - 1) : new Uint32Array(-n - 1);
    a.tokTakeIds(handle, ids);
    return ids;
  }

  /** Invalid UTF-8 subparts seen so far, and the cache's state. */
  info(): { invalidUtf8: number; cacheResets: number; cacheEntries: number; cacheSlots: number } {
    return addon().tokEncoderInfo(this.live());
  }
}

/**
 * A native pretoken counter for one list of special tokens (what a count
 * task does, natively). Thread-bound like `NativeEncoder`.
 */
export class NativeCounter extends NativeHandle {
  readonly specialTokens: readonly string[];

  constructor(specialTokens: readonly string[]) {
    const a = addon();
    const specials = packSpecials(specialTokens);
    super(a.tokCounterCreate(specials.bytes, specials.lens), (h) => a.tokCounterRelease(h), 'NativeCounter: this counter has been released');
    this.specialTokens = [...specialTokens];
  }

  /**
   * Counts the pretokens of bytes[0, length) (a unit cut at safe points;
   * its end is the end of the text): the same counts and stats as a count
   * task on those bytes, entries in the native table's order.
   */
  count(bytes: Uint8Array, length: number = bytes.length): NativeCountUnitResult {
    checkBytes(bytes, 'NativeCounter.count');
    if (!Number.isInteger(length) || length < 0 || length > bytes.length) {
      throw new RangeError(`NativeCounter.count: length ${length} is outside 0..${bytes.length}`);
    }
    const r = addon().tokCount(this.live(), bytes, length);
    const s = r.stats;
    return {
      counts: { bytes: r.bytes, lens: r.lens, counts: r.counts },
      stats: { bytes: s[0], pretokens: s[1], pieces: s[2], specials: s[3], invalidUtf8: s[4] },
    };
  }
}

/**
 * A native pretoken tally: adds up count sets (`PretokenCounts`, e.g. the
 * units' results of a count stage) in one C++ hash table keyed by the
 * pretoken bytes, with 64-bit counts. The same sums as `PretokenTable.addAll`
 * followed by `toCounts()`, entries in order of first occurrence (the TS
 * table gives its hash order; the merge trainer and count files do not
 * depend on it). It exists because BPE training tallies on the main thread,
 * which also reads and cuts the input: in TypeScript the tally took 40% of
 * a 2 GB run. Thread-bound like `NativeCounter`.
 */
export class NativeTally extends NativeHandle {
  constructor() {
    const a = addon();
    if (typeof a.tokTallyCreate !== 'function') throw new Error('native tokenizer: the addon was built without the pretoken tally; rebuild it (npm run build:native)');
    super(a.tokTallyCreate(), (h) => a.tokTallyRelease(h), 'NativeTally: this tally has been released');
  }

  /**
   * Adds every entry of `c` (pretokens of at least one byte; counts whole
   * numbers in [0, 2^53]); returns the unique pretokens so far. Bad input
   * throws a TypeError and adds nothing.
   */
  add(c: PretokenCounts): number {
    return addon().tokTallyAdd(this.live(), c.bytes, c.lens, c.counts);
  }

  /** Unique pretokens so far. */
  get size(): number {
    return addon().tokTallySize(this.live());
  }

  /** The sums (compact, in order of first occurrence); the tally is emptied and its memory freed. */
  take(): PretokenCounts {
    const r = addon().tokTallyTake(this.live());
    return { bytes: r.bytes, lens: r.lens, counts: r.counts };
  }
}

/** Whether this build of the addon has the native tally (an addon built before it has not). */
export function nativeTallyAvailable(): boolean {
  const s = init();
  return 'addon' in s && typeof s.addon.tokTallyCreate === 'function';
}

let lastCounter: NativeCounter | null = null;
let lastCounterKey = '';

/**
 * Counts bytes[0, length) natively with these special tokens: what a count
 * task returns for the same unit. Keeps one counter per thread for the last
 * special-token list (its table memory is reused).
 */
export function countUnit(bytes: Uint8Array, length: number, specialTokens: readonly string[]): NativeCountUnitResult {
  const key = JSON.stringify(specialTokens);
  if (!lastCounter || key !== lastCounterKey) {
    lastCounter?.release();
    lastCounter = new NativeCounter(specialTokens);
    lastCounterKey = key;
  }
  return lastCounter.count(bytes, length);
}

/**
 * Pretoken ends of one piece of text without special tokens (the scanner
 * alone, for tests): the end offsets and the invalid UTF-8 subparts counted.
 */
export function nativePretokenEnds(bytes: Uint8Array): { ends: Uint32Array; invalid: number } {
  checkBytes(bytes, 'nativePretokenEnds');
  const ends = new Uint32Array(bytes.length);
  const [n, invalid] = addon().tokScan(bytes, ends);
  return { ends: ends.subarray(0, n), invalid };
}

/**
 * A GPT-2 vocab.json and merges.txt read by the addon (tok_files.cc): the
 * tables `readGpt2Files` makes, in a fraction of the time; null when the
 * addon is not built or the files need the TypeScript reader (anything but
 * plainly well-formed files: that reader is the reference and gives the
 * errors).
 */
export function nativeGpt2Tables(vocab: Uint8Array, merges: Uint8Array): { pool: Uint8Array; offsets: Uint32Array; merges: Int32Array } | null {
  const s = init();
  if (!('addon' in s) || typeof s.addon.tokReadGpt2Files !== 'function') return null;
  const r = s.addon.tokReadGpt2Files(vocab, merges);
  return r === null ? null : { pool: r[0], offsets: r[1], merges: r[2] };
}

/**
 * The indices of the keys (concatenated in `bytes`, one length each in
 * `lens`) in unsigned byte order, a key before the longer keys it begins,
 * sorted natively; null when the addon is not built (or predates it), so the
 * caller sorts in TypeScript (`counts-file.ts`, the reference).
 */
export function nativeSortKeys(bytes: Uint8Array, lens: Int32Array): Int32Array | null {
  const s = init();
  if (!('addon' in s) || typeof s.addon.tokSortKeys !== 'function') return null;
  const order = new Int32Array(lens.length);
  s.addon.tokSortKeys(bytes, lens, order);
  return order;
}

/** The class the native table gives each code point (tests). */
export function nativeCodePointClasses(codePoints: Uint32Array): Uint8Array {
  const out = new Uint8Array(codePoints.length);
  addon().tokClassOf(codePoints, out);
  return out;
}

/** Which implementation runs: 'auto' is native when available, else TypeScript. */
export type TokenizerEngine = 'auto' | 'native' | 'ts';

/** A unit encoder of either implementation (same ids, same typed-array type). */
export interface UnitEncoder {
  readonly engine: 'native' | 'ts';
  /** Why 'auto' fell back to TypeScript (absent when native runs or 'ts' was asked for). */
  readonly fallbackReason?: string;
  encodeUnit(bytes: Uint8Array, out?: ArrayBuffer | null): TokenIds;
  release(): void;
}

/**
 * A unit encoder for callers that must work with or without the addon:
 * native when available (or demanded: then a missing addon throws), else a
 * TypeScript `BpeEncoder` with the same contract as `NativeEncoder.encodeUnit`.
 */
export function createUnitEncoder(spec: EncoderSpec, engine: TokenizerEngine = 'auto'): UnitEncoder {
  const avail = engine === 'ts' ? null : nativeTokenizerAvailable();
  if (avail?.ok) {
    const enc = new NativeEncoder(spec);
    return { engine: 'native', encodeUnit: (bytes, out = null) => enc.encodeUnit(bytes, out), release: () => enc.release() };
  }
  if (engine === 'native' && avail && !avail.ok) throw new Error(`native tokenizer unavailable: ${avail.reason}`);
  const enc = new BpeEncoder(spec);
  return {
    engine: 'ts',
    fallbackReason: avail && !avail.ok ? avail.reason : undefined,
    encodeUnit: (bytes, out = null) => encodeUnit(enc, bytes, out),
    release() {},
  };
}

/** A unit counter of either implementation (same counts and stats; entry order may differ). */
export interface UnitCounter {
  readonly engine: 'native' | 'ts';
  readonly fallbackReason?: string;
  count(bytes: Uint8Array, length?: number): NativeCountUnitResult;
  release(): void;
}

/** Like `createUnitEncoder`, for pretoken counting (what a count task does). */
export function createUnitCounter(specialTokens: readonly string[], engine: TokenizerEngine = 'auto'): UnitCounter {
  const avail = engine === 'ts' ? null : nativeTokenizerAvailable();
  if (avail?.ok) {
    const c = new NativeCounter(specialTokens);
    return { engine: 'native', count: (bytes, length = bytes.length) => c.count(bytes, length), release: () => c.release() };
  }
  if (engine === 'native' && avail && !avail.ok) throw new Error(`native tokenizer unavailable: ${avail.reason}`);
  const matcher = new SpecialMatcher(specialTokens);
  return {
    engine: 'ts',
    fallbackReason: avail && !avail.ok ? avail.reason : undefined,
    count(bytes, length = bytes.length) {
      const table = new PretokenTable(1 << 16);
      const stats = emptyCountStats();
      countChunk(bytes, length, matcher, table, stats);
      return { counts: table.toCounts(), stats };
    },
    release() {},
  };
}

/** A pretoken tally of either implementation (same sums; entry order may differ). */
export interface UnitTally {
  readonly engine: 'native' | 'ts';
  /** Adds a count set (e.g. one unit's counts). */
  add(c: PretokenCounts): void;
  /** The sums as one compact count set; the tally is emptied (its memory given up) and stays usable. */
  take(): PretokenCounts;
  release(): void;
}

/**
 * A tally for the count stage's sink: `NativeTally` when `engine` is native
 * and this addon has it, else the TypeScript `PretokenTable` (engine 'ts',
 * no addon, or an addon built before the tally).
 */
export function createUnitTally(engine: 'native' | 'ts'): UnitTally {
  if (engine === 'native' && nativeTallyAvailable()) {
    const t = new NativeTally();
    return { engine: 'native', add: (c) => { t.add(c); }, take: () => t.take(), release: () => t.release() };
  }
  // Made on first use and dropped by take(): the compact copy replaces the hash table.
  let table: PretokenTable | null = null;
  return {
    engine: 'ts',
    add: (c) => (table ??= new PretokenTable(1 << 16)).addAll(c),
    take() {
      const out = table ? table.toCounts() : { bytes: new Uint8Array(0), lens: new Int32Array(0), counts: new Float64Array(0) };
      table = null;
      return out;
    },
    release() { table = null; },
  };
}
