/**
 * The BPE merge loop over counted pretokens, incremental and exact.
 *
 * Words are symbol sequences in one Int32Array. Pair counts live in a typed
 * open-addressing table; each pair keeps a vector of the words that (may)
 * contain it (contiguous, so visiting them is not a chain of cache misses),
 * and a max-heap with lazy invalidation picks the next pair. A merge only
 * visits the words listed under the merged pair and applies count deltas to
 * the neighbouring pairs, so no step rescans the corpus. Ties on count go to the lexicographically greater pair of byte
 * strings (Python's max over (bytes, bytes) tuples, as in CS336).
 *
 * A word longer than a block (`blockSymbols`, default 64: a pretoken of
 * megabytes without whitespace, such as a run of one letter) is kept as a
 * chain of fixed-size block records, and each pair lists the blocks that
 * hold its left symbol. A merge then visits only the blocks that contain the
 * pair instead of the whole word, so such a word costs O(length) memory and
 * each merge O(blocks touched), not O(length). Pairs that straddle two
 * blocks are merged into the left block; for a pair of two equal symbols,
 * whose occurrences overlap, the blocks are visited in word order so the
 * left-to-right rule holds. Results are identical to the unblocked loop.
 *
 * Token ids here are internal: 0..255 are the single bytes, 256 + i is the
 * token made by merge i. Special tokens are added by the caller.
 */
import type { PretokenCounts } from './pretoken-count.ts';

/** Output of the merge loop. */
export interface MergeResult {
  /** Internal ids [left0, right0, left1, right1, ...] of each merge in order. */
  pairs: Int32Array;
  /** Bytes of every internal token id (0..255, then one per merge). */
  tokenBytes: Uint8Array[];
  /** Count of each merged pair when it was chosen. */
  pairCounts: Float64Array;
}

/** Lexicographic byte comparison, shorter prefix first (Python bytes order). */
export function compareBytes(x: Uint8Array, y: Uint8Array): number {
  const n = x.length < y.length ? x.length : y.length;
  for (let i = 0; i < n; i++) {
    const d = x[i] - y[i];
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

function hashPair(a: number, b: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 13);
}

/**
 * Pair table, word lists and heap of one training run. Layouts are chosen for
 * few cache misses per visited word: a word is one record in `rec`
 * ([count as float64, length, stamp, symbols..., padding]); each pair's word
 * list is a vector of record offsets in one pool (bump-allocated, compacted
 * when full); a pair slot holds [left, right, id + 1].
 */
class MergeState {
  /** Word records (int32 view) and the same memory as float64 for counts. */
  readonly rec: Int32Array;
  readonly recF: Float64Array;
  readonly recEnd: number;
  readonly tokenBytes: Uint8Array[] = [];
  /** Block records (of words longer than one block) start here, each `blockStride` ints. */
  readonly blockStart: number;
  readonly blockStride: number;
  /** Per block: record offset of the previous / next non-empty block of its word, or -1. */
  readonly blockPrev: Int32Array;
  readonly blockNext: Int32Array;

  // pair table: slots [a, b, id + 1]; per pair id: a, b, stamp, count
  pCap = 1 << 16;
  nPairs = 0;
  pSlots: Int32Array = new Int32Array(this.pCap * 2 * 3);
  pMask = this.pCap * 2 - 1;
  pA: Int32Array = new Int32Array(this.pCap);
  pB: Int32Array = new Int32Array(this.pCap);
  pStamp: Int32Array = new Int32Array(this.pCap);
  pCount: Float64Array = new Float64Array(this.pCap);

  // word vectors per pair: offset, length and capacity in `pool`
  pOff: Int32Array = new Int32Array(this.pCap);
  pLen: Int32Array = new Int32Array(this.pCap);
  pVCap: Int32Array = new Int32Array(this.pCap);
  pool: Int32Array;
  poolUsed = 0;
  poolGarbage = 0;

  // max-heap of (pair, count snapshot)
  heapCap = 1024;
  heapId: Int32Array = new Int32Array(this.heapCap);
  heapCnt: Float64Array = new Float64Array(this.heapCap);
  heapSize = 0;

  /** Keeps the prefetch loads in `merge` from being optimized away. */
  sink = 0;

  // pairs that gained count during the current merge
  touched: Int32Array = new Int32Array(1024);
  nTouched = 0;

  constructor(words: PretokenCounts, blockSymbols: number) {
    const nIn = words.lens.length;
    const starts = new Int32Array(nIn);
    const block = Math.max(2, blockSymbols);
    const stride = (4 + block + 1) & ~1;
    let size = 0;
    let nSyms = 0;
    let nWords = 0;
    let nBlocks = 0;
    for (let k = 0, o = 0; k < nIn; k++) {
      const len = words.lens[k];
      starts[k] = o;
      o += len;
      if (len >= 2) {
        if (len > block) {
          nBlocks += Math.ceil(len / block);
        } else {
          size += (4 + len + 1) & ~1;
          nSyms += len;
          nWords++;
        }
      }
    }
    // Frequent words first: they are visited most, so they share cache lines.
    // Ordering by powers of two of the count (a counting sort) is enough.
    const isShort = (k: number): boolean => words.lens[k] >= 2 && words.lens[k] <= block;
    const bucketOf = (k: number): number => 52 - Math.min(52, Math.floor(Math.log2(words.counts[k])));
    const starts53 = new Int32Array(54);
    for (let k = 0; k < nIn; k++) if (isShort(k)) starts53[bucketOf(k) + 1]++;
    for (let b = 1; b < 54; b++) starts53[b] += starts53[b - 1];
    const order = new Int32Array(nWords);
    for (let k = 0; k < nIn; k++) if (isShort(k)) order[starts53[bucketOf(k)]++] = k;
    const buffer = new ArrayBuffer((size + nBlocks * stride) * 4);
    this.rec = new Int32Array(buffer);
    this.recF = new Float64Array(buffer);
    let r = 0;
    for (let w = 0; w < nWords; w++) {
      const k = order[w];
      const len = words.lens[k];
      const o = starts[k];
      this.recF[r >> 1] = words.counts[k];
      this.rec[r + 2] = len;
      this.rec[r + 3] = -1;
      for (let j = 0; j < len; j++) this.rec[r + 4 + j] = words.bytes[o + j];
      r += (4 + len + 1) & ~1;
    }
    // Long words: consecutive blocks in word order, linked both ways.
    this.blockStart = r;
    this.blockStride = stride;
    this.blockPrev = new Int32Array(nBlocks);
    this.blockNext = new Int32Array(nBlocks);
    for (let k = 0, i = 0; k < nIn; k++) {
      const len = words.lens[k];
      if (len <= block) continue;
      const o = starts[k];
      for (let j = 0; j < len; j += block, i++, r += stride) {
        const n = Math.min(block, len - j);
        this.recF[r >> 1] = words.counts[k];
        this.rec[r + 2] = n;
        this.rec[r + 3] = -1;
        for (let q = 0; q < n; q++) this.rec[r + 4 + q] = words.bytes[o + j + q];
        this.blockPrev[i] = j === 0 ? -1 : r - stride;
        this.blockNext[i] = j + block >= len ? -1 : r + stride;
      }
    }
    this.recEnd = r;
    for (let b = 0; b < 256; b++) this.tokenBytes.push(Uint8Array.of(b));
    this.pool = new Int32Array(0);
    this.countInitialPairs(nSyms);
  }

  /** Offset of the record after r (records of short words vary in size, blocks do not). */
  private nextRecord(r: number): number {
    return r >= this.blockStart ? r + this.blockStride : r + ((4 + this.rec[r + 2] + 1) & ~1);
  }

  /** Index of the block record r (r >= blockStart) in blockPrev / blockNext. */
  private blockIndex(r: number): number {
    return (r - this.blockStart) / this.blockStride;
  }

  private countInitialPairs(nSyms: number): void {
    const rec = this.rec;
    // All initial pairs are byte pairs: a dense table finds their ids.
    const dense = new Int32Array(65536).fill(-1);
    const pairAt = (x: number, y: number): number => {
      const key = (x << 8) | y;
      let p = dense[key];
      if (p < 0) dense[key] = p = this.pairOf(x, y);
      return p;
    };
    // The first symbol of the block after block r, or -1 (a pair across the boundary belongs to r).
    const following = (r: number): number => {
      if (r < this.blockStart) return -1;
      const next = this.blockNext[this.blockIndex(r)];
      return next < 0 ? -1 : rec[next + 4];
    };
    // Pass 1: counts, and how many words each pair's vector needs.
    for (let r = 0; r < this.recEnd; r = this.nextRecord(r)) {
      const f = this.recF[r >> 1];
      const e = r + 4 + rec[r + 2];
      for (let i = r + 4; i + 1 < e; i++) {
        const p = pairAt(rec[i], rec[i + 1]);
        this.pCount[p] += f;
        if (this.pStamp[p] !== r) { this.pStamp[p] = r; this.pVCap[p]++; }
      }
      const y = following(r);
      if (y >= 0) {
        const p = pairAt(rec[e - 1], y);
        this.pCount[p] += f;
        if (this.pStamp[p] !== r) { this.pStamp[p] = r; this.pVCap[p]++; }
      }
    }
    // Pass 2: exact-size vectors, filled in record order.
    let total = 0;
    for (let p = 0; p < this.nPairs; p++) { this.pOff[p] = total; total += this.pVCap[p]; this.pStamp[p] = -1; }
    this.pool = new Int32Array(Math.max(1024, total + Math.max(total, nSyms)));
    this.poolUsed = total;
    for (let r = 0; r < this.recEnd; r = this.nextRecord(r)) {
      const e = r + 4 + rec[r + 2];
      for (let i = r + 4; i + 1 < e; i++) this.listAdd(dense[(rec[i] << 8) | rec[i + 1]], r);
      const y = following(r);
      if (y >= 0) this.listAdd(dense[(rec[e - 1] << 8) | y], r);
    }
    this.heapCap = Math.max(1024, this.nPairs * 2);
    this.heapId = new Int32Array(this.heapCap);
    this.heapCnt = new Float64Array(this.heapCap);
    for (let p = 0; p < this.nPairs; p++) {
      if (this.pCount[p] > 0) {
        this.heapId[this.heapSize] = p;
        this.heapCnt[this.heapSize] = this.pCount[p];
        this.heapSize++;
      }
    }
    for (let i = (this.heapSize >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private growPairs(): void {
    const cap = this.pCap * 2;
    const grow32 = (x: Int32Array): Int32Array => { const y = new Int32Array(cap); y.set(x); return y; };
    this.pA = grow32(this.pA);
    this.pB = grow32(this.pB);
    this.pStamp = grow32(this.pStamp);
    this.pOff = grow32(this.pOff);
    this.pLen = grow32(this.pLen);
    this.pVCap = grow32(this.pVCap);
    const c = new Float64Array(cap);
    c.set(this.pCount);
    this.pCount = c;
    this.pCap = cap;
    const slots = new Int32Array(cap * 2 * 3);
    const mask = cap * 2 - 1;
    for (let p = 0; p < this.nPairs; p++) {
      let i = hashPair(this.pA[p], this.pB[p]) & mask;
      while (slots[i * 3 + 2] !== 0) i = (i + 1) & mask;
      slots[i * 3] = this.pA[p];
      slots[i * 3 + 1] = this.pB[p];
      slots[i * 3 + 2] = p + 1;
    }
    this.pSlots = slots;
    this.pMask = mask;
  }

  /** Id of pair (a, b), or -1. */
  findPair(a: number, b: number): number {
    const slots = this.pSlots;
    const mask = this.pMask;
    let i = hashPair(a, b) & mask;
    for (;;) {
      const q = i * 3;
      const id = slots[q + 2];
      if (id === 0) return -1;
      if (slots[q] === a && slots[q + 1] === b) return id - 1;
      i = (i + 1) & mask;
    }
  }

  /** Id of pair (a, b), created with count 0 when new. */
  pairOf(a: number, b: number): number {
    const slots = this.pSlots;
    const mask = this.pMask;
    let i = hashPair(a, b) & mask;
    for (;;) {
      const q = i * 3;
      const id = slots[q + 2];
      if (id === 0) break;
      if (slots[q] === a && slots[q + 1] === b) return id - 1;
      i = (i + 1) & mask;
    }
    if (this.nPairs === this.pCap) {
      this.growPairs();
      return this.pairOf(a, b);
    }
    const p = this.nPairs++;
    this.pA[p] = a;
    this.pB[p] = b;
    this.pCount[p] = 0;
    this.pStamp[p] = -1;
    this.pOff[p] = 0;
    this.pLen[p] = 0;
    this.pVCap[p] = 0;
    slots[i * 3] = a;
    slots[i * 3 + 1] = b;
    slots[i * 3 + 2] = p + 1;
    return p;
  }

  /** Adds word record r to pair p's vector (unless it is already the last entry). */
  listAdd(p: number, r: number): void {
    const len = this.pLen[p];
    if (len > 0 && this.pool[this.pOff[p] + len - 1] === r) return;
    if (len === this.pVCap[p]) this.growVector(p, len);
    this.pool[this.pOff[p] + len] = r;
    this.pLen[p] = len + 1;
  }

  private growVector(p: number, len: number): void {
    const cap = len < 4 ? 4 : len * 2;
    if (this.poolUsed + cap > this.pool.length) this.compactPool(cap);
    const off = this.poolUsed;
    this.pool.copyWithin(off, this.pOff[p], this.pOff[p] + len);
    this.poolGarbage += this.pVCap[p];
    this.pOff[p] = off;
    this.pVCap[p] = cap;
    this.poolUsed += cap;
  }

  /** Copies every live vector into a fresh pool with room for `extra` more. */
  private compactPool(extra: number): void {
    const live = this.poolUsed - this.poolGarbage;
    const pool = new Int32Array(Math.max(1024, 2 * (live + extra)));
    let used = 0;
    for (let p = 0; p < this.nPairs; p++) {
      const cap = this.pVCap[p];
      if (cap === 0) continue;
      pool.set(this.pool.subarray(this.pOff[p], this.pOff[p] + this.pLen[p]), used);
      this.pOff[p] = used;
      used += cap;
    }
    this.pool = pool;
    this.poolUsed = used;
    this.poolGarbage = 0;
  }

  /** Releases pair p's vector. */
  listFree(p: number): void {
    this.poolGarbage += this.pVCap[p];
    this.pLen[p] = 0;
    this.pVCap[p] = 0;
  }

  /** True when pair p (count cp) ranks above pair q (count cq). */
  above(p: number, cp: number, q: number, cq: number): boolean {
    if (cp !== cq) return cp > cq;
    const tb = this.tokenBytes;
    const c = compareBytes(tb[this.pA[p]], tb[this.pA[q]]);
    if (c !== 0) return c > 0;
    return compareBytes(tb[this.pB[p]], tb[this.pB[q]]) > 0;
  }

  siftUp(i: number): void {
    const ids = this.heapId;
    const cnts = this.heapCnt;
    const id = ids[i];
    const cnt = cnts[i];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.above(id, cnt, ids[parent], cnts[parent])) break;
      ids[i] = ids[parent];
      cnts[i] = cnts[parent];
      i = parent;
    }
    ids[i] = id;
    cnts[i] = cnt;
  }

  siftDown(i: number): void {
    const ids = this.heapId;
    const cnts = this.heapCnt;
    const n = this.heapSize;
    const id = ids[i];
    const cnt = cnts[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.above(ids[c + 1], cnts[c + 1], ids[c], cnts[c])) c++;
      if (!this.above(ids[c], cnts[c], id, cnt)) break;
      ids[i] = ids[c];
      cnts[i] = cnts[c];
      i = c;
    }
    ids[i] = id;
    cnts[i] = cnt;
  }

  heapPush(p: number, cnt: number): void {
    if (this.heapSize === this.heapCap) {
      this.heapCap *= 2;
      const a = new Int32Array(this.heapCap); a.set(this.heapId); this.heapId = a;
      const b = new Float64Array(this.heapCap); b.set(this.heapCnt); this.heapCnt = b;
    }
    this.heapId[this.heapSize] = p;
    this.heapCnt[this.heapSize] = cnt;
    this.siftUp(this.heapSize++);
  }

  /**
   * Pops the best live pair (lazily dropping or refreshing stale entries);
   * returns its id, or -1 when no pair is left. Its count is in pCount.
   */
  popBest(): number {
    while (this.heapSize > 0) {
      const top = this.heapId[0];
      const cnt = this.heapCnt[0];
      this.heapSize--;
      if (this.heapSize > 0) {
        this.heapId[0] = this.heapId[this.heapSize];
        this.heapCnt[0] = this.heapCnt[this.heapSize];
        this.siftDown(0);
      }
      const live = this.pCount[top];
      if (live === cnt) return top;
      if (live > 0) this.heapPush(top, live);
      else this.listFree(top);
    }
    return -1;
  }

  /** Pair (l, r) gains f occurrences in word record r0 (l or r is the new token). */
  private gain(l: number, r: number, f: number, r0: number, m: number): void {
    const p = this.pairOf(l, r);
    this.pCount[p] += f;
    if (this.pStamp[p] !== m) {
      this.pStamp[p] = m;
      if (this.nTouched === this.touched.length) {
        const t = new Int32Array(this.touched.length * 2); t.set(this.touched); this.touched = t;
      }
      this.touched[this.nTouched++] = p;
    }
    this.listAdd(p, r0);
  }

  /** Pair (l, r), if it exists and is not `skip`, loses f occurrences. */
  private lose(l: number, r: number, f: number, skip: number): void {
    const p = this.findPair(l, r);
    if (p >= 0 && p !== skip) this.pCount[p] -= f;
  }

  /** Applies merge number m of pair `top` into new token x in every listed word. */
  merge(top: number, m: number, x: number): void {
    const a = this.pA[top];
    const b = this.pB[top];
    const ta = this.tokenBytes[a];
    const tb = this.tokenBytes[b];
    const ab = new Uint8Array(ta.length + tb.length);
    ab.set(ta);
    ab.set(tb, ta.length);
    this.tokenBytes.push(ab);
    this.pCount[top] = 0;
    this.nTouched = 0;
    const rec = this.rec;
    const n = this.pLen[top];
    const blocks = this.blockStart < this.recEnd;
    // Occurrences of (a, a) overlap: the blocks of a word must be merged left to right.
    if (blocks && a === b) this.sortBlockEntries(top);
    // Touch every listed record first: these independent loads overlap their
    // cache misses, so the loop below finds the records in cache.
    {
      const pool = this.pool;
      const off = this.pOff[top];
      let sink = 0;
      for (let k = 0; k < n; k++) sink ^= rec[pool[off + k] + 3];
      this.sink = sink;
    }
    for (let k = 0; k < n; k++) {
      // Re-read the offset: a gain elsewhere may compact the pool (moving
      // this vector, which itself does not change during its own merge).
      const r0 = this.pool[this.pOff[top] + k];
      if (rec[r0 + 3] === m) continue;
      rec[r0 + 3] = m;
      if (blocks && r0 >= this.blockStart) {
        this.mergeBlock(r0, top, a, b, x, m);
        continue;
      }
      const s = r0 + 4;
      const end = s + rec[r0 + 2];
      const f = this.recF[r0 >> 1];
      let r = s;
      let out = s;
      while (r < end) {
        if (r + 1 < end && rec[r] === a && rec[r + 1] === b) {
          if (out > s) {
            const prev = rec[out - 1];
            this.lose(prev, a, f, top);
            this.gain(prev, x, f, r0, m);
          }
          if (r + 2 < end) {
            const next = rec[r + 2];
            this.lose(b, next, f, top);
            this.gain(x, next, f, r0, m);
          }
          rec[out++] = x;
          r += 2;
        } else {
          rec[out++] = rec[r++];
        }
      }
      rec[r0 + 2] = out - s;
    }
    this.listFree(top);
    for (let t = 0; t < this.nTouched; t++) {
      const p = this.touched[t];
      if (this.pCount[p] > 0) this.heapPush(p, this.pCount[p]);
      else this.listFree(p);
    }
  }

  /** Sorts the block records in pair p's vector by offset (word order), leaving the other entries in place. */
  private sortBlockEntries(p: number): void {
    const off = this.pOff[p];
    const len = this.pLen[p];
    const pool = this.pool;
    let nb = 0;
    for (let k = 0; k < len; k++) if (pool[off + k] >= this.blockStart) nb++;
    if (nb < 2) return;
    const sorted = new Int32Array(nb);
    for (let k = 0, j = 0; k < len; k++) if (pool[off + k] >= this.blockStart) sorted[j++] = pool[off + k];
    sorted.sort();
    for (let k = 0, j = 0; k < len; k++) if (pool[off + k] >= this.blockStart) pool[off + k] = sorted[j++];
  }

  /**
   * `merge` within one block record r0 of a long word: like the loop over a
   * whole word, but the symbol before the block's first one and after its
   * last one live in the neighbouring non-empty blocks, and a pair whose
   * right symbol opens the next block is merged into this block.
   */
  private mergeBlock(r0: number, top: number, a: number, b: number, x: number, m: number): void {
    const rec = this.rec;
    const i0 = this.blockIndex(r0);
    const s = r0 + 4;
    const end = s + rec[r0 + 2];
    const f = this.recF[r0 >> 1];
    let r = s;
    let out = s;
    while (r < end) {
      if (rec[r] === a) {
        // The right symbol: in this block, or the first of the next block.
        let nb = -1;
        let hit = false;
        if (r + 1 < end) {
          hit = rec[r + 1] === b;
        } else {
          nb = this.blockNext[i0];
          hit = nb >= 0 && rec[nb + 4] === b;
        }
        if (hit) {
          if (out > s) {
            const prev = rec[out - 1];
            this.lose(prev, a, f, top);
            this.gain(prev, x, f, r0, m);
          } else {
            const pb = this.blockPrev[i0];
            if (pb >= 0) {
              const prev = rec[pb + 4 + rec[pb + 2] - 1];
              this.lose(prev, a, f, top);
              this.gain(prev, x, f, pb, m);
            }
          }
          let next = -1;
          if (nb < 0) {
            if (r + 2 < end) {
              next = rec[r + 2];
            } else {
              const after = this.blockNext[i0];
              if (after >= 0) next = rec[after + 4];
            }
            r += 2;
          } else {
            // b opens the next block: take it out of there.
            const len = rec[nb + 2] - 1;
            rec.copyWithin(nb + 4, nb + 5, nb + 5 + len);
            rec[nb + 2] = len;
            if (len === 0) this.unlinkBlock(nb);
            const after = this.blockNext[i0];
            if (after >= 0) next = rec[after + 4];
            r += 1;
          }
          if (next >= 0) {
            this.lose(b, next, f, top);
            this.gain(x, next, f, r0, m);
          }
          rec[out++] = x;
          continue;
        }
      }
      rec[out++] = rec[r++];
    }
    rec[r0 + 2] = out - s;
  }

  /** Drops an emptied block from its word's chain. */
  private unlinkBlock(r: number): void {
    const i = this.blockIndex(r);
    const prev = this.blockPrev[i];
    const next = this.blockNext[i];
    if (prev >= 0) this.blockNext[this.blockIndex(prev)] = next;
    if (next >= 0) this.blockPrev[this.blockIndex(next)] = prev;
  }
}

const WARM_UP_ABOVE = 50_000;

/** Runs the merge loop briefly on the first few thousand words (result unused). */
function rehearse(words: PretokenCounts): void {
  const n = 4000;
  let bytes = 0;
  for (let k = 0; k < n; k++) bytes += words.lens[k];
  learnMerges({ bytes: words.bytes.subarray(0, bytes), lens: words.lens.subarray(0, n), counts: words.counts.subarray(0, n) }, 200);
}

/** Default block size (symbols) for words longer than that; see the module comment. */
export const DEFAULT_BLOCK_SYMBOLS = 64;

/**
 * Learns up to `numMerges` merges from unique pretokens with counts.
 * `onProgress(done)` is called every `progressEvery` merges. Words longer
 * than `blockSymbols` are kept in blocks of that size (same result, for
 * speed on very long pretokens; tests use tiny blocks).
 */
export function learnMerges(
  words: PretokenCounts,
  numMerges: number,
  onProgress?: (done: number) => void,
  progressEvery = 256,
  blockSymbols = DEFAULT_BLOCK_SYMBOLS,
): MergeResult {
  // The first merges are the largest (they touch most words). On a big input,
  // a short rehearsal on a sample gets the loops JIT-compiled before them.
  if (words.lens.length > WARM_UP_ABOVE && numMerges > 1000) rehearse(words);
  const st = new MergeState(words, blockSymbols);
  const outPairs = new Int32Array(numMerges * 2);
  const outCounts = new Float64Array(numMerges);
  let n = 0;
  while (n < numMerges) {
    const top = st.popBest();
    if (top < 0) break;
    outPairs[2 * n] = st.pA[top];
    outPairs[2 * n + 1] = st.pB[top];
    outCounts[n] = st.pCount[top];
    st.merge(top, n, 256 + n);
    n++;
    if (onProgress && n % progressEvery === 0) onProgress(n);
  }
  if (onProgress) onProgress(n);
  return { pairs: outPairs.slice(0, n * 2), tokenBytes: st.tokenBytes, pairCounts: outCounts.slice(0, n) };
}
