/**
 * Loads the lmpipe native kernel addon (`native/build/Release/lmpipe_native.node`,
 * built by `npm run build:native`) and describes its functions. Loading
 * fails with a `NativeUnavailableError` whose one-line message says what
 * failed and how to fix it; the native backend's probe (backend.ts) turns
 * it into the reason `auto` skips native.
 *
 * OpenBLAS reads its environment once, when the addon pulls it in, so the
 * variables are settled around that moment (see `openBlasEnv`).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The kernel variants: baseline x86-64, and AVX2+FMA where the CPU has both. */
export type NativeIsa = 'baseline' | 'avx2';

/** What the loaded addon reports about itself. */
export interface NativeInfo {
  /** Kernel variant in use (the best one this CPU runs, unless `setIsa` chose another). */
  isa: NativeIsa;
  /** Threads taking part in each kernel (pool workers + the caller). */
  threads: number;
  openblasCore: string;
  openblasConfig: string;
  /** Set by registerNativeBackend: glibc keeps freed memory mapped for reuse (see its `memoryReuse` option). */
  memoryReuse?: boolean;
}

type F32 = Float32Array;
type I32 = Int32Array;

/** The tokenizer core's code paths: scalar everywhere, AVX2 and AVX-512BW where the CPU has them. */
export type NativeTokenizerIsa = 'scalar' | 'avx2' | 'avx512';

/** What `tokEncoderInfo` reports about a native encoder. */
export interface NativeEncoderInfo {
  /** Invalid UTF-8 subparts seen by all its encodes (each is encoded byte for byte). */
  invalidUtf8: number;
  /** Times the pretoken cache was cleared for being full. */
  cacheResets: number;
  cacheEntries: number;
  cacheSlots: number;
}

/** `tokCount`'s result: unique pretokens (table order) and [bytes, pretokens, pieces, specials, invalidUtf8]. */
export interface NativeCountResult {
  bytes: Uint8Array;
  lens: Int32Array;
  counts: Float64Array;
  stats: Float64Array;
}

/** `tokTallyTake`'s result: unique pretokens (concatenated bytes, lengths) and their summed counts. */
export interface NativeTallyResult {
  bytes: Uint8Array;
  lens: Int32Array;
  counts: Float64Array;
}

/**
 * The tokenizer core's functions (native/src/tokenizer/, wrapped by
 * src/tokenizer/native-tokenizer.ts). Encoders, counters and tallies are
 * numbered handles owned by the calling thread. Every function checks its arguments
 * and throws a TypeError / Error rather than touching memory it should not.
 */
export interface NativeTokenizerAddon {
  /** Sets the code point class table from (start, end exclusive, class 1..4) triples; later triples win. Once per process. */
  tokSetClasses(triples: Uint32Array): boolean;
  /** Whether the class table is set (by any thread of this process). */
  tokHasClasses(): boolean;
  /** Writes the class of each code point (0..0x110000) into `out` (tests). */
  tokClassOf(codePoints: Uint32Array, out: Uint8Array): void;
  /** The code paths this CPU runs, scalar first. */
  tokIsas(): NativeTokenizerIsa[];
  /** The active code path. */
  tokIsa(): NativeTokenizerIsa;
  /** Makes a code path active (tests, benchmarks); throws a TypeError if this CPU cannot run it. */
  tokSetIsa(isa: NativeTokenizerIsa): NativeTokenizerIsa;
  /** Builds an encoder (EncoderSpec's tables, `joinableJunctions`, special tokens as concatenated bytes); returns its handle. */
  tokEncoderCreate(vocabSize: number, byteToId: I32, merges: I32, joinable: Uint8Array, specialBytes: Uint8Array, specialLens: I32, specialIds: I32, cacheSlotsLog2: number): number;
  /**
   * Encodes `bytes`; writes the n ids into `out` (uint16 when `narrow`, else
   * uint32) and returns n when it holds them, else returns -(n + 1) and keeps
   * the ids for `tokTakeIds`. Throws an Error with code LMPIPE_MISSING_BYTE
   * when a byte has no token.
   */
  tokEncode(handle: number, bytes: Uint8Array, out: ArrayBuffer | null, narrow: boolean): number;
  /** Copies the ids of the handle's last `tokEncode` into `dst`. */
  tokTakeIds(handle: number, dst: Uint16Array | Uint32Array): void;
  tokEncoderInfo(handle: number): NativeEncoderInfo;
  tokEncoderRelease(handle: number): void;
  /** Builds a pretoken counter for these special tokens; returns its handle. */
  tokCounterCreate(specialBytes: Uint8Array, specialLens: I32): number;
  /** Counts the pretokens of bytes[0, length). */
  tokCount(handle: number, bytes: Uint8Array, length: number): NativeCountResult;
  tokCounterRelease(handle: number): void;
  /** Pretoken ends of one piece without special tokens: [count written, invalid UTF-8 subparts]. */
  tokScan(bytes: Uint8Array, ends: Uint32Array): [number, number];
  /** Builds an empty pretoken tally (BPE training's sum of per-unit counts); returns its handle. */
  tokTallyCreate(): number;
  /**
   * Adds pretokens (concatenated `bytes`, positive `lens`, whole `counts` in
   * [0, 2^53]) into the tally; returns its unique pretokens so far. Bad input
   * throws a TypeError and leaves the tally unchanged.
   */
  tokTallyAdd(handle: number, bytes: Uint8Array, lens: I32, counts: Float64Array): number;
  /** Unique pretokens in the tally. */
  tokTallySize(handle: number): number;
  /** The summed pretokens in order of first occurrence; empties the tally (it stays usable). */
  tokTallyTake(handle: number): NativeTallyResult;
  tokTallyRelease(handle: number): void;
  /** Writes into `order` the key indices in unsigned byte order (keys concatenated in `bytes`, one length each in `lens`). */
  tokSortKeys(bytes: Uint8Array, lens: I32, order: I32): void;
  /** A GPT-2 vocab.json and merges.txt as [byte pool, offsets by id, merge id triples], or null where the TypeScript reader must judge the files. */
  tokReadGpt2Files(vocab: Uint8Array, merges: Uint8Array): [Uint8Array, Uint32Array, I32] | null;
}

/**
 * The reader formats' functions (native/src/formats/, used by
 * src/stages/formats/jsonl.ts). They check their arguments and throw a
 * TypeError rather than touching memory they should not.
 */
export interface NativeFormatsAddon {
  /**
   * Extracts the `field` string of each line of JSON Lines in src[from, to)
   * (whole lines: each ends at an LF, the last at `to`) into `out` from
   * `outFrom`, each document's UTF-8 bytes followed by `sep`, exactly as
   * Buffer.from(JSON.parse(line)[field]) would. Returns 1 at the first
   * line it leaves to the caller (anything but a strict JSON object whose
   * field is a string, and blank lines other than spaces, tabs and CRs), 2
   * at the first whose document does not fit in `out`, else 0 (all done).
   * `result` (5 elements) gets [where it stopped: that line's start, or to;
   * that line's end (its LF, or to); where the written documents end in out;
   * lines handled, blank ones included; documents written]. `out` must not
   * share memory with the other arrays.
   */
  jsonlExtract(src: Uint8Array, from: number, to: number, field: Uint8Array, sep: Uint8Array, out: Uint8Array, outFrom: number, result: Float64Array): number;
}

/** Precision of the addon's matmuls: fp32 (OpenBLAS sgemm) or bf16 operands with fp32 accumulation (oneDNN). */
export type NativeMatmulPrecision = 'fp32' | 'bf16';

/** What `precisionInfo` reports (native/src/gemm_bf16.cc; see src/backends/native/precision.ts). */
export interface NativePrecisionInfo {
  /** The precision every matmul uses now. */
  precision: NativeMatmulPrecision;
  /** oneDNN is loaded and builds a bf16 matmul on this CPU (and no test blocks it). */
  available: boolean;
  /** Why bf16 is unavailable; null when it is available. */
  reason: string | null;
  /** `setOnednnBlocked(true)` is in force. */
  blocked: boolean;
  /** The addon was compiled against oneDNN's headers (libdnnl-dev). */
  headers: boolean;
  /** oneDNN's effective CPU ISA (`dnnl_get_effective_cpu_isa`), e.g. "avx512_core_bf16"; null when not loaded. */
  isa: string | null;
  /** That ISA has bf16 dot-product instructions (avx512_core_bf16, AMX); false means emulated or none. */
  hardwareBf16: boolean;
  /** oneDNN's implementation of a probe matmul (`dnnl_query_impl_info_str`), e.g. "brg:avx512_core_bf16". */
  probeImpl: string | null;
  /** Every implementation the cached matmul primitives use. */
  impls: string[];
  /** oneDNN's version, e.g. "2.6.3". */
  version: string | null;
  /** oneDNN's CPU threading runtime ("omp", "seq", ...). */
  runtime: string | null;
  /** Path of the loaded libdnnl. */
  library: string | null;
  /** Cached matmul primitives (one per block shape). */
  primitives: number;
  /** The fp32 → bf16 conversion in use, and those this CPU runs (scalar first). */
  convertIsa: NativeBf16ConvertIsa;
  convertIsas: NativeBf16ConvertIsa[];
  /**
   * bf16 matmul counters since `resetPrecisionStats`: calls, calls that
   * ran in fp32 instead (`fallbacks`, the last one's reason in `lastError`:
   * a primitive oneDNN could not build or run), oneDNN executions, fp32
   * values converted to bf16; thread-seconds (summed over the pool's
   * threads) converting, copying column blocks of C into place and inside
   * oneDNN; wall seconds of the calls; their GFLOP.
   */
  stats: { calls: number; fallbacks: number; lastError: string | null; executions: number; converted: number; convertSeconds: number; copySeconds: number; executeSeconds: number; wallSeconds: number; gflop: number };
}

/** The fp32 → bf16 conversion variants (round to nearest even, all bit-identical). */
export type NativeBf16ConvertIsa = 'scalar' | 'avx2' | 'avx512';

/** The matmul precision functions (native/src/bf16_napi.cc), wrapped by src/backends/native/precision.ts. */
export interface NativePrecisionAddon {
  /** Sets the precision of every later matmul; returns the one now active ('fp32' when bf16 is unavailable). */
  setPrecision(precision: NativeMatmulPrecision): NativeMatmulPrecision;
  /** Loads oneDNN on first call (cheap after) and reports the bf16 path. */
  precisionInfo(): NativePrecisionInfo;
  resetPrecisionStats(): void;
  /** Test hook: makes the bf16 path behave as if oneDNN were missing (and an active bf16 falls back to fp32). */
  setOnednnBlocked(blocked: boolean): boolean;
  /** out[i] = float(bf16(x[i])) with the bf16 path's conversion (or `variant`); returns the variant used. */
  bf16Round(x: F32, out: F32, variant?: NativeBf16ConvertIsa): NativeBf16ConvertIsa;
}

/**
 * The addon's functions. Every function is synchronous, writes into the
 * preallocated output arrays it is given and checks that every array is
 * large enough for the sizes passed (it throws a TypeError otherwise).
 */
export interface NativeAddon extends NativeTokenizerAddon, NativeFormatsAddon, NativePrecisionAddon {
  info(): NativeInfo;
  setThreads(n: number): number;
  /** The kernel variants this CPU runs, baseline first. */
  isas(): NativeIsa[];
  /** Makes `isa` the active kernel variant (tests, benchmarks); throws a TypeError if this CPU cannot run it. */
  setIsa(isa: NativeIsa): NativeIsa;
  /** glibc: keep freed memory mapped for reuse (fixed 32 MiB mmap threshold, no trimming); false elsewhere. */
  keepFreedMemory(): boolean;
  /**
   * Maps file `path` read-only (private copy-on-write pages) as ArrayBuffers
   * of at most `segmentBytes` each (a multiple of the page size); throws an
   * Error naming the file when it cannot be opened or mapped.
   */
  mapFile(path: string, segmentBytes: number): ArrayBuffer[];
  /** Detaches buffers from `mapFile` (views on them become empty); their pages are unmapped when collected. */
  unmapFile(buffers: ArrayBuffer[]): void;
  /** c[i] = op(a at aoff[i]) · op(b at boff[i]); (m×k)·(k×n) per batch entry, in the precision `setPrecision` chose. */
  matmul(a: F32, b: F32, c: F32, batch: number, aoff: Float64Array, boff: Float64Array, m: number, n: number, k: number, transposeA: boolean, transposeB: boolean): void;
  binary(op: number, a: F32, b: F32, out: F32, shape: number[], aStrides: number[], bStrides: number[]): void;
  compare(op: number, a: F32, b: F32, out: Uint8Array, shape: number[], aStrides: number[], bStrides: number[]): void;
  unary(op: number, x: F32, out: F32, alpha: number): void;
  reduce(op: number, x: F32, out: F32, outer: number, r: number, inner: number): void;
  softmax(x: F32, out: F32, rows: number, cols: number): void;
  softmaxGrad(y: F32, dy: F32, out: F32, rows: number, cols: number): void;
  transpose(x: ArrayBufferView, out: ArrayBufferView, shape: number[], perm: number[]): void;
  /** Returns -1, or the position of the first index outside [0, dim). */
  gather(x: ArrayBufferView, indices: I32, out: ArrayBufferView, outer: number, dim: number, n: number, inner: number): number;
  scatterAdd(x: F32, ids: I32, out: F32, n: number, inner: number, segments: number): void;
  slice(x: ArrayBufferView, out: ArrayBufferView, shape: number[], begin: number[], size: number[]): void;
  concat(inputs: ArrayBufferView[], widths: number[], out: ArrayBufferView, outer: number): void;
  /** Writes each row's log-sum-exp; returns Σ (lse − logit[target]) in float64. */
  ceForward(logits: F32, targets: I32, lse: F32, rows: number, vocab: number): number;
  ceBackward(logits: F32, targets: I32, lse: F32, scale: number, dlogits: F32, rows: number, vocab: number): void;
  rmsnormForward(x: F32, w: F32, eps: number, y: F32, inv: F32, rows: number, d: number): void;
  rmsnormBackward(x: F32, w: F32, inv: F32, dy: F32, dx: F32, dw: F32, rows: number, d: number): void;
  rope(x: F32, cos: F32, sin: F32, out: F32, outer: number, t: number, d: number, backward: boolean): void;
  actForward(kind: number, x: F32, y: F32): void;
  actBackward(kind: number, x: F32, dy: F32, dx: F32): void;
  swigluForward(a: F32, b: F32, out: F32): void;
  swigluBackward(a: F32, b: F32, dy: F32, da: F32, db: F32): void;
  attentionForward(q: F32, k: F32, v: F32, o: F32, lse: F32, bh: number, tq: number, tk: number, dh: number, dv: number, scale: number, causalOffset: number): void;
  attentionBackward(q: F32, k: F32, v: F32, o: F32, lse: F32, dout: F32, dq: F32, dk: F32, dv: F32, bh: number, tq: number, tk: number, dh: number, dvDim: number, scale: number, causalOffset: number): void;
  adamw(p: F32, g: F32, m: F32, v: F32, p2: F32, m2: F32, v2: F32, alpha: number, beta1: number, beta2: number, eps: number, decay: number): void;
}

/** The addon is missing or does not load; the message names the fix. */
export class NativeUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NativeUnavailableError';
  }
}

/** Where the build puts the addon. */
export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../../../native/build/Release/lmpipe_native.node', import.meta.url));

const BUILD_HINT = 'run `npm run build:native` (needs g++, make and OpenBLAS: `apt-get install g++ make libopenblas-dev`)';

/**
 * The OpenBLAS environment the addon loads under. OPENBLAS_CORETYPE is
 * dropped (an inherited value such as "Haswell" overrides OpenBLAS's own CPU
 * detection) unless LMPIPE_OPENBLAS_CORETYPE names a core explicitly; the
 * pool does the threading, so OpenBLAS starts no threads of its own.
 */
export function openBlasEnv(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  return {
    OPENBLAS_CORETYPE: env.LMPIPE_OPENBLAS_CORETYPE || undefined,
    OPENBLAS_NUM_THREADS: '1',
  };
}

/**
 * Runs `fn` with `vars` set in the process environment (undefined: unset),
 * then restores the previous values, so that child processes started later
 * (e.g. a PyTorch reference) do not inherit them. OpenBLAS reads its
 * variables only while it loads.
 */
function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

let cached: NativeAddon | null = null;
let failure: NativeUnavailableError | null = null;

/** The addon, loaded once; throws NativeUnavailableError when it cannot load. */
export function loadNative(): NativeAddon {
  if (cached) return cached;
  if (failure) throw failure;
  if (!existsSync(NATIVE_ADDON_PATH)) {
    failure = new NativeUnavailableError(`native kernels are not built (no ${NATIVE_ADDON_PATH}); ${BUILD_HINT}`);
    throw failure;
  }
  try {
    const require = createRequire(import.meta.url);
    cached = withEnv(openBlasEnv(process.env), () => require(NATIVE_ADDON_PATH) as NativeAddon);
    return cached;
  } catch (e) {
    const reason = String((e as Error).message).split('\n')[0];
    failure = new NativeUnavailableError(`native kernels failed to load (${reason}); ${BUILD_HINT}`);
    throw failure;
  }
}

/** The addon, or null when it is unavailable. */
export function tryLoadNative(): NativeAddon | null {
  try {
    return loadNative();
  } catch (e) {
    if (e instanceof NativeUnavailableError) return null;
    throw e;
  }
}
