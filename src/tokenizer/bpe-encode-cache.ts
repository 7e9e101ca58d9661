/**
 * Bounded cache from pretoken bytes to their BPE ids. Natural text repeats a
 * small set of pretokens, so nearly every pretoken is a hit and skips merging.
 *
 * Layout is chosen for memory locality, since the lookup is the encoder's
 * hottest operation: one Int32Array holds 8 words per slot (hash, length and
 * id count, the id or an offset to the ids, and keys of up to 16 bytes
 * inline), so a probe usually touches a single cache line. Longer keys (up to
 * MAX_CACHED_BYTES) live in a byte pool. When the cache is full it is cleared
 * at once (a cheap "LRU-ish" policy: the hot pretokens come back within a few
 * kilobytes of text), so memory stays fixed whatever the input size.
 */

/** Pretokens longer than this are not cached (they are rare and costly to store). */
export const MAX_CACHED_BYTES = 64;

const STRIDE = 8;
const F_HASH = 0;
/** len | count << 8; 0 marks an empty slot. */
const F_META = 1;
const F_VAL = 2;
const F_KEY = 3; // 4 words: 16 key bytes, little-endian
const F_POOL = 7;
const INLINE_BYTES = 16;

/** Up to four bytes from b[k] (before e), little-endian, in one int. */
function packWord(b: Uint8Array, k: number, e: number): number {
  if (e - k >= 4) return b[k] | (b[k + 1] << 8) | (b[k + 2] << 16) | (b[k + 3] << 24);
  let w = b[k];
  if (k + 1 < e) w |= b[k + 1] << 8;
  if (k + 2 < e) w |= b[k + 2] << 16;
  return w;
}

/** FNV-1a hash of b[s, e). */
export function hashBytes(b: Uint8Array, s: number, e: number): number {
  let h = 0x811c9dc5;
  for (let k = s; k < e; k++) h = Math.imul(h ^ b[k], 0x01000193);
  return h;
}

export class PretokenCache {
  private readonly maxEntries: number;
  private readonly mask: number;
  private readonly slots: Int32Array;
  private readonly keys: Uint8Array;
  private readonly vals: Int32Array;
  private entries = 0;
  private keyTop = 0;
  private valTop = 0;
  /** Number of times the cache was cleared because it was full. */
  resets = 0;

  constructor(maxEntries = 1 << 16) {
    let cap = 16;
    while (cap < maxEntries * 2) cap <<= 1;
    this.maxEntries = maxEntries;
    this.mask = cap - 1;
    this.slots = new Int32Array(cap * STRIDE);
    // Most pretokens are short and single-token; overflow of either pool clears.
    this.keys = new Uint8Array(maxEntries * 8);
    this.vals = new Int32Array(maxEntries * 2);
  }

  /**
   * Looks up b[s, e), hashing it on the way (the hash is kept for `insert`).
   * On a hit returns the slot's base index (read it with `count` / `id` /
   * `idsAt`); on a miss returns -1 - base, the empty slot where `insert`
   * may store it.
   * Keys of up to 16 bytes are packed into four words first, which makes
   * both the hash and the comparison a handful of integer operations.
   */
  lookup(b: Uint8Array, s: number, e: number): number {
    const len = e - s;
    if (len > INLINE_BYTES) {
      const h = hashBytes(b, s, e);
      this.lastHash = h;
      return this.find(b, s, e, h);
    }
    const w0 = packWord(b, s, e);
    const w1 = len > 4 ? packWord(b, s + 4, e) : 0;
    const w2 = len > 8 ? packWord(b, s + 8, e) : 0;
    const w3 = len > 12 ? packWord(b, s + 12, e) : 0;
    let h = Math.imul(w0 ^ len, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15) ^ w1, 0x85ebca77);
    h = Math.imul(h ^ (h >>> 13) ^ w2, 0xc2b2ae3d);
    h = Math.imul(h ^ (h >>> 16) ^ w3, 0x27d4eb2f);
    h ^= h >>> 15;
    this.lastHash = h;
    const slots = this.slots;
    let slot = (h ^ (h >>> 16)) & this.mask;
    for (;;) {
      const base = slot * STRIDE;
      const meta = slots[base + F_META];
      if (meta === 0) return -1 - base;
      if (slots[base + F_HASH] === h && (meta & 0xff) === len && slots[base + F_KEY] === w0 &&
        slots[base + F_KEY + 1] === w1 && slots[base + F_KEY + 2] === w2 && slots[base + F_KEY + 3] === w3) return base;
      slot = (slot + 1) & this.mask;
    }
  }

  /** Hash computed by the last `lookup` (pass it to `insert`). */
  lastHash = 0;

  /** `lookup` for keys longer than INLINE_BYTES, given their FNV hash. */
  private find(b: Uint8Array, s: number, e: number, h: number): number {
    const len = e - s;
    const slots = this.slots;
    let slot = (h ^ (h >>> 16)) & this.mask;
    for (;;) {
      const base = slot * STRIDE;
      const meta = slots[base + F_META];
      if (meta === 0) return -1 - base;
      if ((meta & 0xff) === len && slots[base + F_HASH] === h && this.sameKey(base, b, s, len)) return base;
      slot = (slot + 1) & this.mask;
    }
  }

  private sameKey(base: number, b: Uint8Array, s: number, len: number): boolean {
    const slots = this.slots;
    if (len <= INLINE_BYTES) {
      for (let k = 0; k < len; k++) {
        if (((slots[base + F_KEY + (k >> 2)] >>> ((k & 3) << 3)) & 0xff) !== b[s + k]) return false;
      }
      return true;
    }
    const keys = this.keys;
    const off = slots[base + F_POOL];
    for (let k = 0; k < len; k++) if (keys[off + k] !== b[s + k]) return false;
    return true;
  }

  /** Number of ids stored in a hit slot. */
  count(base: number): number {
    return this.slots[base + F_META] >>> 8;
  }

  /** The id of a hit slot holding exactly one id. */
  id(base: number): number {
    return this.slots[base + F_VAL];
  }

  /** Offset in `values` of the ids of a hit slot holding several ids. */
  idsAt(base: number): number {
    return this.slots[base + F_VAL];
  }

  /** Backing store of multi-id entries (read with `idsAt`). */
  get values(): Int32Array {
    return this.vals;
  }

  /**
   * Stores b[s, e) -> ids[0, n) at the empty slot returned by `find`
   * (encoded as -1 - base). Returns false (and stores nothing) when the key
   * is too long to cache. May clear the cache first when it is full.
   */
  insert(b: Uint8Array, s: number, e: number, h: number, miss: number, ids: Int32Array, n: number): boolean {
    const len = e - s;
    if (len > MAX_CACHED_BYTES || n > 0xffffff) return false;
    let base = -1 - miss;
    const needKey = len > INLINE_BYTES ? len : 0;
    const needVal = n > 1 ? n : 0;
    if (this.entries >= this.maxEntries || this.keyTop + needKey > this.keys.length || this.valTop + needVal > this.vals.length) {
      this.clear();
      this.resets++;
      base = ((h ^ (h >>> 16)) & this.mask) * STRIDE;
    }
    const slots = this.slots;
    slots[base + F_HASH] = h;
    slots[base + F_META] = len | (n << 8);
    if (len <= INLINE_BYTES) {
      slots[base + F_KEY] = 0;
      slots[base + F_KEY + 1] = 0;
      slots[base + F_KEY + 2] = 0;
      slots[base + F_KEY + 3] = 0;
      for (let k = 0; k < len; k++) slots[base + F_KEY + (k >> 2)] |= b[s + k] << ((k & 3) << 3);
    } else {
      this.keys.set(b.subarray(s, e), this.keyTop);
      slots[base + F_POOL] = this.keyTop;
      this.keyTop += len;
    }
    if (n === 1) {
      slots[base + F_VAL] = ids[0];
    } else {
      this.vals.set(ids.subarray(0, n), this.valTop);
      slots[base + F_VAL] = this.valTop;
      this.valTop += n;
    }
    this.entries++;
    return true;
  }

  /** Empties the cache. */
  clear(): void {
    const slots = this.slots;
    for (let i = F_META; i < slots.length; i += STRIDE) slots[i] = 0;
    this.entries = 0;
    this.keyTop = 0;
    this.valTop = 0;
  }

  /** Number of cached pretokens. */
  get size(): number {
    return this.entries;
  }
}
