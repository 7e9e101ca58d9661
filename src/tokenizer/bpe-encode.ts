/**
 * The BPE encoder's hot path: UTF-8 bytes in, token ids out. Special tokens
 * are cut out first (leftmost-longest), each text segment between them is
 * pretokenized by the byte-level GPT-2 scanner (`pretokenizer.ts`), and each
 * pretoken's ids come from the bounded cache or, on a miss, from merge
 * application.
 *
 * Bytes are encoded as they are: an invalid UTF-8 sequence is pretokenized
 * like the U+FFFD that decoding would give, but keeps its own bytes, so the
 * ids always decode back to the exact input bytes.
 *
 * `EncoderSpec` is the plain-data form of the encoding tables (typed arrays
 * and strings only), so worker threads get them by structured clone and
 * build an identical encoder without re-reading tokenizer files.
 */
import { MAX_CACHED_BYTES, PretokenCache } from './bpe-encode-cache.ts';
import { BpeMerger, MergeTable } from './bpe-apply-merges.ts';
import { nextPretokenEnd, type ScanCounters } from './pretokenizer.ts';
import { SpecialMatcher, type SpecialToken } from './special-matcher.ts';

/** Pieces of a long pretoken longer than this are merged into arrays of their own (no scratch copy). */
const LONG_PIECE = 4096;

/** Pretokens longer than this skip the cache (it keeps none this long) and are merged piecewise. */
const LONG_PRETOKEN = MAX_CACHED_BYTES;

/** Everything an encoder needs, as structured-clonable data. */
export interface EncoderSpec {
  /** Vocabulary size including special tokens (ids are < vocabSize). */
  vocabSize: number;
  /** Id of each single-byte token (-1 when the vocabulary lacks it), 256 entries. */
  byteToId: Int32Array;
  /** Merges in rank order, three ids each: left, right, merged. */
  merges: Int32Array;
  /** Special tokens recognised in the input. */
  specials: SpecialToken[];
}

/** A growable list of token ids (uint32). */
export class IdBuffer {
  data: Uint32Array;
  length = 0;

  constructor(capacity = 1024) {
    this.data = new Uint32Array(Math.max(16, capacity));
  }

  /** Makes room for `n` more ids. */
  reserve(n: number): void {
    if (this.length + n <= this.data.length) return;
    let cap = this.data.length * 2;
    while (cap < this.length + n) cap *= 2;
    const bigger = new Uint32Array(cap);
    bigger.set(this.data.subarray(0, this.length));
    this.data = bigger;
  }

  push(id: number): void {
    if (this.length === this.data.length) this.reserve(1);
    this.data[this.length++] = id;
  }

  /** The ids so far (a view; copy it before the buffer is reused). */
  view(): Uint32Array {
    return this.data.subarray(0, this.length);
  }

  clear(): void {
    this.length = 0;
  }
}

/**
 * Which byte junctions a merge can ever join: entry (x << 8) | y is 1 when
 * some merge (L, R) can join a token ending in byte x to one starting with
 * byte y. Where it is 0 no merge ever spans the junction, so the bytes on
 * either side are merged independently (same ids, less memory: this is how
 * a run of megabytes without whitespace is encoded in pieces, exactly).
 * First and last bytes of each id follow the merges (L's first, R's last)
 * to a fixed point; an id whose merges disagree counts as any byte.
 */
export function joinableJunctions(spec: Pick<EncoderSpec, 'vocabSize' | 'byteToId' | 'merges'>): Uint8Array {
  // A thread asks this of one spec several times per run (the cut stage, its
  // encoder): the table is kept per merges array (read-only by every caller).
  const known = joinableMemo.get(spec.merges);
  if (known && known.vocabSize === spec.vocabSize && known.byteToId === spec.byteToId) return known.table;
  const table = computeJoinable(spec);
  joinableMemo.set(spec.merges, { vocabSize: spec.vocabSize, byteToId: spec.byteToId, table });
  return table;
}

const joinableMemo = new WeakMap<Int32Array, { vocabSize: number; byteToId: Int32Array; table: Uint8Array }>();

function computeJoinable(spec: Pick<EncoderSpec, 'vocabSize' | 'byteToId' | 'merges'>): Uint8Array {
  const UNKNOWN = -1;
  const ANY = 256;
  const first = new Int16Array(spec.vocabSize).fill(UNKNOWN);
  const last = new Int16Array(spec.vocabSize).fill(UNKNOWN);
  for (let byte = 0; byte < 256; byte++) {
    const id = spec.byteToId[byte];
    if (id >= 0 && id < spec.vocabSize) { first[id] = byte; last[id] = byte; }
  }
  const m = spec.merges;
  const table = new Uint8Array(1 << 16);
  for (let k = 0; k < m.length; k++) if (!(m[k] >= 0 && m[k] < spec.vocabSize)) return table.fill(1);
  const join = (have: number, put: number): number => (have === UNKNOWN ? put : have === put ? have : ANY);
  // In rank order every merge uses earlier tokens, so two passes settle it;
  // a file that does not settle in 64 gets no junction marked safe.
  let changed = true;
  for (let pass = 0; changed && pass < 64; pass++) {
    changed = false;
    for (let k = 0; k + 2 < m.length; k += 3) {
      const l = m[k];
      const r = m[k + 1];
      const c = m[k + 2];
      if (first[l] === UNKNOWN || last[r] === UNKNOWN) continue;
      const f = join(first[c], first[l]);
      const e = join(last[c], last[r]);
      if (f !== first[c] || e !== last[c]) { first[c] = f; last[c] = e; changed = true; }
    }
  }
  if (changed) return table.fill(1);
  for (let k = 0; k + 2 < m.length; k += 3) {
    const x = last[m[k]];
    const y = first[m[k + 1]];
    if (x === UNKNOWN || y === UNKNOWN) continue; // this merge can never apply
    if (x === ANY || y === ANY) {
      for (let a = 0; a < 256; a++) {
        if (x !== ANY && a !== x) continue;
        for (let b = 0; b < 256; b++) if (y === ANY || b === y) table[(a << 8) | b] = 1;
      }
    } else {
      table[(x << 8) | y] = 1;
    }
  }
  return table;
}

export class BpeEncoder {
  readonly spec: EncoderSpec;
  readonly specials: SpecialMatcher;
  /** See `joinableJunctions`. */
  readonly joinable: Uint8Array;
  /** Id of each special token, by its index in `specials`. */
  private readonly specialIds: Int32Array;
  private readonly byteToId: Int32Array;
  private readonly merger: BpeMerger;
  private readonly cache: PretokenCache;
  private scratch = new Int32Array(256);
  /** Invalid UTF-8 subparts seen so far (they are encoded byte for byte). */
  readonly scan: ScanCounters = { invalid: 0 };

  /**
   * `cacheEntries`: 2^17 (about 10 MB). Measured in-process on books.txt
   * (50 MB, GPT-2 vocab): 2^16 filled up 5 times, 33 MB/s; 2^17 once,
   * 39 MB/s; 2^18 never, but no faster, and two workers' caches then crowd
   * the shared L3 (2-worker throughput fell).
   */
  constructor(spec: EncoderSpec, cacheEntries = 1 << 17) {
    this.spec = spec;
    this.byteToId = spec.byteToId;
    this.merger = new BpeMerger(new MergeTable(spec.merges), spec.byteToId);
    this.cache = new PretokenCache(cacheEntries);
    this.specials = new SpecialMatcher(spec.specials.map((s) => s.text));
    this.specialIds = Int32Array.from(spec.specials, (s) => s.id);
    this.joinable = joinableJunctions(spec);
  }

  /** Times the pretoken cache was cleared for being full (for tuning and tests). */
  get cacheResets(): number {
    return this.cache.resets;
  }

  /** Encodes b[s, e) (special tokens included) and appends the ids to `out`. */
  encodeRange(b: Uint8Array, s: number, e: number, out: IdBuffer): void {
    const specials = this.specials;
    let p = s;
    for (;;) {
      const at = specials.find(b, p, e, e);
      const segEnd = at < 0 ? e : at;
      if (segEnd > p) this.encodeText(b, p, segEnd, out);
      if (at < 0) return;
      out.push(this.specialIds[specials.matchToken]);
      p = specials.matchEnd;
    }
  }

  /** Encodes b[s, e), a piece of text without special tokens. */
  encodeText(b: Uint8Array, s: number, e: number, out: IdBuffer): void {
    // A pretoken never yields more ids than bytes; room is made per pretoken
    // so the buffer grows with the output, not with the input.
    let data = out.data;
    let n = out.length;
    const byteToId = this.byteToId;
    const cache = this.cache;
    const counters = this.scan;
    let i = s;
    while (i < e) {
      const j = nextPretokenEnd(b, i, e, counters);
      if (j - i > LONG_PRETOKEN) {
        // Makes room for its ids itself, piece by piece.
        out.length = n;
        this.mergeLong(b, i, j, out);
        data = out.data;
        n = out.length;
        i = j;
        continue;
      }
      if (n + (j - i) > data.length) {
        out.length = n;
        out.reserve(Math.max(j - i, (e - i) >> 2));
        data = out.data;
      }
      if (j - i === 1) {
        const id = byteToId[b[i]];
        if (id < 0) this.merger.merge(b, i, j, this.scratch); // throws the missing-byte error
        data[n++] = id;
      } else {
        const slot = cache.lookup(b, i, j);
        if (slot >= 0) {
          const count = cache.count(slot);
          if (count === 1) {
            data[n++] = cache.id(slot);
          } else {
            const vals = cache.values;
            const at = cache.idsAt(slot);
            for (let k = 0; k < count; k++) data[n++] = vals[at + k];
          }
        } else {
          if (this.scratch.length < j - i) this.scratch = new Int32Array(j - i);
          const ids = this.scratch;
          const count = this.merger.merge(b, i, j, ids);
          for (let k = 0; k < count; k++) data[n++] = ids[k];
          cache.insert(b, i, j, cache.lastHash, slot, ids, count);
        }
      }
      i = j;
    }
    out.length = n;
  }

  /**
   * Merges a long pretoken b[s, e) and appends its ids to `out`: piece by
   * piece, cut where no merge can join the bytes on either side
   * (`joinable`), so memory follows the longest piece and the ids made, not
   * the pretoken. Same ids as merging it whole.
   */
  private mergeLong(b: Uint8Array, s: number, e: number, out: IdBuffer): void {
    const joinable = this.joinable;
    let start = s;
    for (let c = s + 1; c <= e; c++) {
      if (c < e && joinable[(b[c - 1] << 8) | b[c]] !== 0) continue;
      if (c - start === 1) {
        const id = this.byteToId[b[start]];
        if (id < 0) this.merger.merge(b, start, c, this.scratch); // throws the missing-byte error
        out.push(id);
      } else {
        let ids: Int32Array;
        if (c - start > LONG_PIECE) {
          ids = this.merger.mergeLong(b, start, c);
        } else {
          if (this.scratch.length < c - start) this.scratch = new Int32Array(c - start);
          ids = this.scratch.subarray(0, this.merger.merge(b, start, c, this.scratch));
        }
        out.reserve(ids.length);
        out.data.set(ids, out.length);
        out.length += ids.length;
      }
      start = c;
    }
  }

  /** Encodes a whole byte buffer into a fresh Uint32Array. */
  encodeBytes(b: Uint8Array): Uint32Array {
    const out = new IdBuffer((b.length >> 2) + 16);
    this.encodeRange(b, 0, b.length, out);
    // Trim only when much space is wasted: copying costs more than it saves.
    return out.length < out.data.length * 0.75 ? out.data.slice(0, out.length) : out.view();
  }
}
