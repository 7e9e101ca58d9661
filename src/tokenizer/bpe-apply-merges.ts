/**
 * BPE merge application on one pretoken: start from the single-byte tokens
 * and repeatedly merge the adjacent pair with the lowest merge rank (the
 * leftmost one on ties), as the CS336 reference and GPT-2 do. Pair lookups go
 * through an open-addressing hash table over typed arrays keyed by the two
 * token ids, so no strings or objects are made per pretoken.
 *
 * Merging the leftmost occurrence of the best pair and then looking again is
 * the same as the CS336 formulation (merge every occurrence of the best pair
 * in one pass): a merge that uses a token always ranks after the merge that
 * made it, so no new pair can outrank the remaining occurrences.
 */
import { UserError } from '../pipeline/errors.ts';

/** No merge for a pair. */
const NONE = -1;

/**
 * (left id, right id) -> (rank, merged id), open addressing with linear
 * probing. The four fields of a slot sit together in one Int32Array so a
 * probe touches one cache line.
 */
export class MergeTable {
  /** Number of distinct pairs. */
  readonly size: number;
  private readonly mask: number;
  /** Per slot: left, right, rank (NONE when empty), merged. */
  private readonly slots: Int32Array;

  /**
   * `triples` holds the merges in rank order, three ids each: left, right,
   * merged. A repeated pair keeps its first (lowest) rank.
   */
  constructor(triples: Int32Array) {
    const count = Math.floor(triples.length / 3);
    let cap = 16;
    while (cap < count * 2) cap <<= 1;
    this.mask = cap - 1;
    const slots = new Int32Array(cap * 4);
    for (let i = 2; i < slots.length; i += 4) slots[i] = NONE;
    let n = 0;
    for (let r = 0; r < count; r++) {
      const a = triples[3 * r];
      const b = triples[3 * r + 1];
      let s = this.hash(a, b);
      while (slots[4 * s + 2] !== NONE && !(slots[4 * s] === a && slots[4 * s + 1] === b)) s = (s + 1) & this.mask;
      if (slots[4 * s + 2] !== NONE) continue;
      slots[4 * s] = a;
      slots[4 * s + 1] = b;
      slots[4 * s + 2] = r;
      slots[4 * s + 3] = triples[3 * r + 2];
      n++;
    }
    this.slots = slots;
    this.size = n;
  }

  private hash(a: number, b: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77);
    h ^= h >>> 15;
    return h & this.mask;
  }

  /** Slot base of the pair (a, b), or -1 when the pair has no merge. */
  find(a: number, b: number): number {
    const slots = this.slots;
    let s = this.hash(a, b);
    for (;;) {
      const base = 4 * s;
      if (slots[base + 2] === NONE) return -1;
      if (slots[base] === a && slots[base + 1] === b) return base;
      s = (s + 1) & this.mask;
    }
  }

  /** Rank of the merge at a slot base returned by `find`. */
  rank(base: number): number {
    return this.slots[base + 2];
  }

  /** Merged id of the merge at a slot base returned by `find`. */
  merged(base: number): number {
    return this.slots[base + 3];
  }

  /** Rank of the pair (a, b), or 2^31-1 when it has no merge. */
  rankOf(a: number, b: number): number {
    const s = this.find(a, b);
    return s < 0 ? NO_RANK : this.slots[s + 2];
  }
}

const NO_RANK = 0x7fffffff;

/** `mergeByPasses`: a merge made a pair that outranks it, so the passes are not the reference order. */
const PASSES_UNSOUND = -0x80000000;

/** Above this many bytes a pretoken is merged with a heap instead of quadratic scans. */
const HEAP_THRESHOLD = 256;

/**
 * Applies BPE merges to single-byte tokens. Scratch buffers are reused, so
 * one instance must not be used re-entrantly (it is not: encoding is sync).
 */
export class BpeMerger {
  private readonly table: MergeTable;
  private readonly byteToId: Int32Array;
  /** Rank of the merge of single-byte tokens (x, y) at [x << 8 | y]: the first round needs no hashing. */
  private readonly byteRanks: Int32Array;
  private ids = new Int32Array(HEAP_THRESHOLD);
  private ranks = new Int32Array(HEAP_THRESHOLD);

  /** `byteToId[b]` is the id of the one-byte token b (-1 when the vocab lacks it). */
  constructor(table: MergeTable, byteToId: Int32Array) {
    this.table = table;
    this.byteToId = byteToId;
    this.byteRanks = new Int32Array(1 << 16).fill(NO_RANK);
    for (let x = 0; x < 256; x++) {
      if (byteToId[x] < 0) continue;
      for (let y = 0; y < 256; y++) if (byteToId[y] >= 0) this.byteRanks[(x << 8) | y] = table.rankOf(byteToId[x], byteToId[y]);
    }
  }

  /**
   * Merges the bytes b[s, e) and writes the resulting ids into `dst` from
   * index 0; returns how many ids were written. `dst` must hold e - s ids.
   */
  merge(b: Uint8Array, s: number, e: number, dst: Int32Array): number {
    const n = e - s;
    if (n > HEAP_THRESHOLD) {
      const ids = this.mergeLong(b, s, e);
      dst.set(ids);
      return ids.length;
    }
    const ids = this.ids;
    const ranks = this.ranks;
    const table = this.table;
    for (let k = 0; k < n; k++) ids[k] = this.idOfByte(b[s + k]);
    let len = n;
    const byteRanks = this.byteRanks;
    for (let k = 0; k + 1 < len; k++) ranks[k] = byteRanks[(b[s + k] << 8) | b[s + k + 1]];
    while (len > 1) {
      let best = NO_RANK;
      let at = -1;
      for (let k = 0; k + 1 < len; k++) {
        if (ranks[k] < best) {
          best = ranks[k];
          at = k;
        }
      }
      if (at < 0) break;
      ids[at] = table.merged(table.find(ids[at], ids[at + 1]));
      for (let k = at + 1; k + 1 < len; k++) {
        ids[k] = ids[k + 1];
        ranks[k] = ranks[k + 1];
      }
      len--;
      if (at > 0) ranks[at - 1] = table.rankOf(ids[at - 1], ids[at]);
      if (at + 1 < len) ranks[at] = table.rankOf(ids[at], ids[at + 1]);
    }
    for (let k = 0; k < len; k++) dst[k] = ids[k];
    return len;
  }

  private idOfByte(byte: number): number {
    const id = this.byteToId[byte];
    if (id < 0) throw new UserError(`byte 0x${byte.toString(16).padStart(2, '0')} has no token in the vocabulary, so this text cannot be encoded (a byte-level BPE vocabulary needs all 256 single bytes)`);
    return id;
  }

  /**
   * The ids of b[s, e) in a new array (a view of it), for pretokens longer
   * than the quadratic scan suits (long runs of letters, spaces, digits or
   * symbols); `merge` with no destination to fill, so no second copy. First
   * whole passes, one per merge rank: each merges every occurrence of the
   * lowest-ranked pair left to right (what the heap below does for that
   * rank) and finds the next lowest rank, in place, 4 bytes per byte. A run
   * of one letter needs a few passes over a halving array. When the passes
   * stop paying (more than 8 times the length in total), the heap finishes
   * from that state; when a merge makes a pair ranked no higher than its
   * own (impossible when merges only use earlier tokens, but a file can say
   * anything), the heap starts over from the bytes.
   */
  mergeLong(b: Uint8Array, s: number, e: number): Int32Array {
    const n = e - s;
    const ids = new Int32Array(n);
    for (let k = 0; k < n; k++) ids[k] = this.idOfByte(b[s + k]);
    let len = this.mergeByPasses(ids, n, 8 * n);
    if (len === PASSES_UNSOUND) {
      for (let k = 0; k < n; k++) ids[k] = this.idOfByte(b[s + k]);
      len = this.mergeWithHeap(ids, n);
    } else if (len < 0) {
      len = this.mergeWithHeap(ids, -len - 1);
    }
    return ids.subarray(0, len);
  }

  /**
   * Rank-by-rank passes over ids[0, len) (see mergeLong); returns the final
   * length, or -(length) - 1 when `budget` element visits ran out first (ids
   * then hold a valid intermediate state), or PASSES_UNSOUND.
   */
  private mergeByPasses(ids: Int32Array, len: number, budget: number): number {
    const table = this.table;
    let r = NO_RANK;
    for (let k = 0; k + 1 < len; k++) {
      const q = table.rankOf(ids[k], ids[k + 1]);
      if (q < r) r = q;
    }
    while (r !== NO_RANK) {
      if (budget < len) return -len - 1;
      budget -= len;
      let next = NO_RANK;
      let out = 0;
      for (let k = 0; k < len;) {
        let t = ids[k];
        if (k + 1 < len) {
          const slot = table.find(t, ids[k + 1]);
          if (slot >= 0 && table.rank(slot) === r) {
            t = table.merged(slot);
            k += 2;
            // The new pair with the next token, as a one-at-a-time merge would see it.
            if (k < len && table.rankOf(t, ids[k]) <= r) return PASSES_UNSOUND;
          } else {
            k += 1;
          }
        } else {
          k += 1;
        }
        if (out > 0) {
          const q = table.rankOf(ids[out - 1], t);
          if (q <= r) return PASSES_UNSOUND;
          if (q < next) next = q;
        }
        ids[out++] = t;
      }
      len = out;
      r = next;
    }
    return len;
  }

  /**
   * The general case: a linked list of parts and a min-heap of (rank,
   * position) with lazy invalidation, so the cost is O(n log n) rather than
   * O(n^2). Ties go to the leftmost position, which gives the same result as
   * the scan above. Starts from the tokens ids[0, n) and leaves the result
   * at the front of `ids`; returns its length.
   */
  private mergeWithHeap(ids: Int32Array, n: number): number {
    const table = this.table;
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      next[k] = k + 1 < n ? k + 1 : -1;
      prev[k] = k - 1;
    }
    // Heap keys: rank * 2^31 + position (exact in a double for rank < 2^22).
    let heap = new Float64Array(n);
    let size = 0;
    const push = (key: number): void => {
      if (size === heap.length) {
        const bigger = new Float64Array(heap.length * 2);
        bigger.set(heap);
        heap = bigger;
      }
      let k = size++;
      while (k > 0) {
        const p = (k - 1) >> 1;
        if (heap[p] <= key) break;
        heap[k] = heap[p];
        k = p;
      }
      heap[k] = key;
    };
    const pop = (): number => {
      const top = heap[0];
      const last = heap[--size];
      let k = 0;
      for (;;) {
        let c = 2 * k + 1;
        if (c >= size) break;
        if (c + 1 < size && heap[c + 1] < heap[c]) c++;
        if (heap[c] >= last) break;
        heap[k] = heap[c];
        k = c;
      }
      heap[k] = last;
      return top;
    };
    const TWO31 = 2147483648;
    const pushPair = (p: number): void => {
      const q = next[p];
      if (q < 0) return;
      const r = table.rankOf(ids[p], ids[q]);
      if (r !== NO_RANK) push(r * TWO31 + p);
    };
    for (let k = 0; k + 1 < n; k++) pushPair(k);
    while (size > 0) {
      const key = pop();
      const r = Math.floor(key / TWO31);
      const p = key - r * TWO31;
      if (ids[p] < 0) continue; // removed
      const q = next[p];
      if (q < 0) continue;
      const slot = table.find(ids[p], ids[q]);
      if (slot < 0 || table.rank(slot) !== r) continue; // stale
      ids[p] = table.merged(slot);
      ids[q] = -1;
      const after = next[q];
      next[p] = after;
      if (after >= 0) prev[after] = p;
      if (prev[p] >= 0) pushPair(prev[p]);
      pushPair(p);
    }
    // In place: the list only moves forward, so ids[k] is read before slot k can be written.
    let len = 0;
    for (let k = 0; k >= 0; k = next[k]) ids[len++] = ids[k];
    return len;
  }
}
