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
import { PretokenCache } from './bpe-encode-cache.ts';
import { BpeMerger, MergeTable } from './bpe-encode-merge.ts';
import { nextPretokenEnd, type ScanCounters } from './pretokenizer.ts';
import { SpecialMatcher, type SpecialToken } from './special-split.ts';

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

export class BpeEncoder {
  readonly spec: EncoderSpec;
  readonly specials: SpecialMatcher;
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

  /** Encodes a whole byte buffer into a fresh Uint32Array. */
  encodeBytes(b: Uint8Array): Uint32Array {
    const out = new IdBuffer((b.length >> 2) + 16);
    this.encodeRange(b, 0, b.length, out);
    // Trim only when much space is wasted: copying costs more than it saves.
    return out.length < out.data.length * 0.75 ? out.data.slice(0, out.length) : out.view();
  }
}
