/**
 * Counting pretokens as byte strings: an open-addressing hash table keyed by
 * byte slices (no JS string per pretoken), and the routine that splits one
 * chunk on special tokens, pretokenizes each piece and counts.
 */
import { scanPretokens, type ScanCounters } from './pretokenizer.ts';
import type { SpecialMatcher } from './special-matcher.ts';

/** Unique pretokens with counts in a compact, transferable form. */
export interface PretokenCounts {
  /** All pretokens' bytes concatenated in entry order. */
  bytes: Uint8Array;
  /** Byte length of each pretoken. */
  lens: Int32Array;
  /** Occurrences of each pretoken. */
  counts: Float64Array;
}

/** Tallies from counting one or more chunks. */
export interface CountStats {
  /** Bytes read (special tokens included). */
  bytes: number;
  /** Pretokens counted (with repetition). */
  pretokens: number;
  /** Non-empty pieces of text between special tokens. */
  pieces: number;
  /** Special-token occurrences. */
  specials: number;
  /** Invalid UTF-8 subparts (each one becomes one U+FFFD when decoded). */
  invalidUtf8: number;
}

/** Fresh zeroed stats. */
export function emptyCountStats(): CountStats {
  return { bytes: 0, pretokens: 0, pieces: 0, specials: 0, invalidUtf8: 0 };
}

/** Adds `b` into `a`. */
export function addCountStats(a: CountStats, b: CountStats): void {
  a.bytes += b.bytes;
  a.pretokens += b.pretokens;
  a.pieces += b.pieces;
  a.specials += b.specials;
  a.invalidUtf8 += b.invalidUtf8;
}

/** Masks keeping the first `len` bytes of a little-endian packed word pair. */
const MASK_LO = new Int32Array(9);
const MASK_HI = new Int32Array(9);
for (let l = 0; l <= 8; l++) {
  MASK_LO[l] = l >= 4 ? -1 : (1 << (8 * l)) - 1;
  MASK_HI[l] = l >= 8 ? -1 : l <= 4 ? 0 : (1 << (8 * (l - 4))) - 1;
}

function mixKey(k0: number, k1: number, tail: number): number {
  let h = Math.imul(k0, 0x9e3779b1) ^ Math.imul(k1 ^ tail, 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 13);
}

/** Hash input for the bytes after the first 8 of a longer pretoken. */
function tailHash(buf: Uint8Array, s: number, e: number): number {
  let h = Math.imul(0x811c9dc5 ^ (e - s), 0x01000193);
  let i = s;
  for (; i + 4 <= e; i += 4) {
    h = Math.imul(h ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24)), 0x01000193);
    h ^= h >>> 16;
  }
  for (; i < e; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h;
}

/** Counts held in a slot move to the float64 spill array at this size. */
const SLOT_COUNT_LIMIT = 1 << 30;

/**
 * Hash table from byte strings to counts, laid out so that counting a
 * pretoken of at most 8 bytes (over 90% of English ones) touches one cache
 * line: a slot is 4 int32s [tag, key0, key1, count] where key0/key1 hold the
 * first 8 bytes (little-endian, zero padded) and tag = high 24 hash bits |
 * min(length, 255) (never 0, so 0 marks an empty slot). Longer pretokens
 * also keep their bytes in an arena, found through `slotEntry`; their first
 * 8 bytes and hash still filter the comparisons. A count that outgrows the
 * int32 moves into a float64 spill array, so counts stay exact.
 */
export class PretokenTable {
  /** Number of distinct byte strings. */
  size = 0;
  private slots: Int32Array;
  private spill: Float64Array;
  private slotEntry: Int32Array;
  private mask: number;
  /** Per long entry: [arena offset, length]. */
  private meta: Int32Array;
  private nLong = 0;
  private arena: Uint8Array;
  private used = 0;

  constructor(initialCapacity = 1 << 14) {
    let cap = 16;
    while (cap < initialCapacity * 2) cap *= 2;
    this.slots = new Int32Array(cap * 4);
    this.spill = new Float64Array(cap);
    this.slotEntry = new Int32Array(cap);
    this.mask = cap - 1;
    this.meta = new Int32Array(1024);
    this.arena = new Uint8Array(1 << 14);
  }

  /** Adds `count` occurrences of the byte string buf[s, e) (e > s). */
  add(buf: Uint8Array, s: number, e: number, count: number): void {
    this.bump(this.slotOf(buf, s, e), count);
  }

  /**
   * Counts the consecutive pretokens buf[start, ends[0]), buf[ends[0], ends[1]),
   * ... up to ends[n - 1], once each (the scanner's output format).
   */
  addRun(buf: Uint8Array, start: number, ends: Int32Array, n: number): void {
    // The common case (a pretoken of at most 8 bytes already in the table)
    // is inlined here; everything else goes through slotOf.
    const limit = buf.length - 8;
    let s = start;
    for (let t = 0; t < n; t++) {
      const e = ends[t];
      const len = e - s;
      if (len <= 8 && s <= limit) {
        const k0 = (buf[s] | (buf[s + 1] << 8) | (buf[s + 2] << 16) | (buf[s + 3] << 24)) & MASK_LO[len];
        const k1 = (buf[s + 4] | (buf[s + 5] << 8) | (buf[s + 6] << 16) | (buf[s + 7] << 24)) & MASK_HI[len];
        const h = mixKey(k0, k1, len);
        const tag = (h & ~0xff) | len;
        const slots = this.slots;
        const mask = this.mask;
        let i = h & mask;
        for (;;) {
          const p = i * 4;
          const st = slots[p];
          if (st === 0) break;
          if (st === tag && slots[p + 1] === k0 && slots[p + 2] === k1) {
            const c = slots[p + 3] + 1;
            if (c < SLOT_COUNT_LIMIT) slots[p + 3] = c;
            else this.bump(i, 1);
            s = e;
            i = -1;
            break;
          }
          i = (i + 1) & mask;
        }
        if (i < 0) continue;
      }
      this.bump(this.slotOf(buf, s, e), 1);
      s = e;
    }
  }

  private bump(i: number, count: number): void {
    const p = i * 4 + 3;
    const c = this.slots[p] + count;
    if (c < SLOT_COUNT_LIMIT) {
      this.slots[p] = c;
    } else {
      this.spill[i] += c;
      this.slots[p] = 0;
    }
  }

  /** Slot index of buf[s, e), inserted with count 0 when new. */
  private slotOf(buf: Uint8Array, s: number, e: number): number {
    const len = e - s;
    let k0: number;
    let k1: number;
    if (s + 8 <= buf.length) {
      // Branch-free packing of the first 8 bytes (they are in bounds).
      const l = len < 8 ? len : 8;
      k0 = (buf[s] | (buf[s + 1] << 8) | (buf[s + 2] << 16) | (buf[s + 3] << 24)) & MASK_LO[l];
      k1 = (buf[s + 4] | (buf[s + 5] << 8) | (buf[s + 6] << 16) | (buf[s + 7] << 24)) & MASK_HI[l];
    } else {
      k0 = 0;
      k1 = 0;
      for (let j = 0; j < len && j < 4; j++) k0 |= buf[s + j] << (8 * j);
      for (let j = 4; j < len && j < 8; j++) k1 |= buf[s + j] << (8 * (j - 4));
    }
    const h = mixKey(k0, k1, len <= 8 ? len : tailHash(buf, s + 8, e));
    const tag = (h & ~0xff) | (len < 255 ? len : 255);
    const mask = this.mask;
    const slots = this.slots;
    let i = h & mask;
    for (;;) {
      const p = i * 4;
      const st = slots[p];
      if (st === 0) break;
      if (st === tag && slots[p + 1] === k0 && slots[p + 2] === k1) {
        if (len <= 8) return i;
        const k = this.slotEntry[i];
        if (this.meta[2 * k + 1] === len) {
          const arena = this.arena;
          const o = this.meta[2 * k] - s;
          let j = s + 8;
          while (j < e && arena[o + j] === buf[j]) j++;
          if (j === e) return i;
        }
      }
      i = (i + 1) & mask;
    }
    const p = i * 4;
    slots[p] = tag;
    slots[p + 1] = k0;
    slots[p + 2] = k1;
    slots[p + 3] = 0;
    this.spill[i] = 0;
    if (len > 8) this.slotEntry[i] = this.storeLong(buf, s, e);
    this.size++;
    if (this.size * 2 > this.mask + 1) {
      this.rehash();
      return this.slotOf(buf, s, e);
    }
    return i;
  }

  /** Keeps the bytes of a pretoken longer than 8 bytes; returns its long-entry index. */
  private storeLong(buf: Uint8Array, s: number, e: number): number {
    const len = e - s;
    if (this.used + len > this.arena.length) {
      let cap = this.arena.length * 2;
      while (cap < this.used + len) cap *= 2;
      const a = new Uint8Array(cap);
      a.set(this.arena.subarray(0, this.used));
      this.arena = a;
    }
    this.arena.set(buf.subarray(s, e), this.used);
    const k = this.nLong++;
    if (2 * k + 2 > this.meta.length) {
      const m = new Int32Array(this.meta.length * 2);
      m.set(this.meta);
      this.meta = m;
    }
    this.meta[2 * k] = this.used;
    this.meta[2 * k + 1] = len;
    this.used += len;
    return k;
  }

  private rehash(): void {
    const old = this.slots;
    const oldSpill = this.spill;
    const oldEntry = this.slotEntry;
    const cap = (this.mask + 1) * 2;
    const slots = new Int32Array(cap * 4);
    const spill = new Float64Array(cap);
    const slotEntry = new Int32Array(cap);
    const mask = cap - 1;
    for (let j = 0; j < oldSpill.length; j++) {
      const p = j * 4;
      const tag = old[p];
      if (tag === 0) continue;
      let len = tag & 0xff;
      let tail = len;
      if (len > 8) {
        const k = oldEntry[j];
        const o = this.meta[2 * k];
        len = this.meta[2 * k + 1];
        tail = tailHash(this.arena, o + 8, o + len);
      }
      let i = mixKey(old[p + 1], old[p + 2], tail) & mask;
      while (slots[i * 4] !== 0) i = (i + 1) & mask;
      const q = i * 4;
      slots[q] = tag;
      slots[q + 1] = old[p + 1];
      slots[q + 2] = old[p + 2];
      slots[q + 3] = old[p + 3];
      spill[i] = oldSpill[j];
      slotEntry[i] = oldEntry[j];
    }
    this.slots = slots;
    this.spill = spill;
    this.slotEntry = slotEntry;
    this.mask = mask;
  }

  /** Adds every entry of a compact count set. */
  addAll(c: PretokenCounts): void {
    let o = 0;
    for (let k = 0; k < c.lens.length; k++) {
      const len = c.lens[k];
      this.bump(this.slotOf(c.bytes, o, o + len), c.counts[k]);
      o += len;
    }
  }

  /** Copies the entries out (in table order). */
  toCounts(): PretokenCounts {
    const n = this.size;
    const lens = new Int32Array(n);
    const counts = new Float64Array(n);
    let total = 0;
    const slots = this.slots;
    for (let j = 0, k = 0; j < this.spill.length; j++) {
      const tag = slots[j * 4];
      if (tag === 0) continue;
      const len = (tag & 0xff) <= 8 ? tag & 0xff : this.meta[2 * this.slotEntry[j] + 1];
      lens[k] = len;
      counts[k] = slots[j * 4 + 3] + this.spill[j];
      total += len;
      k++;
    }
    const bytes = new Uint8Array(total);
    let o = 0;
    for (let j = 0; j < this.spill.length; j++) {
      const p = j * 4;
      const tag = slots[p];
      if (tag === 0) continue;
      const short = tag & 0xff;
      if (short <= 8) {
        for (let b = 0; b < short; b++) bytes[o + b] = (b < 4 ? slots[p + 1] >>> (8 * b) : slots[p + 2] >>> (8 * (b - 4))) & 0xff;
        o += short;
      } else {
        const k = this.slotEntry[j];
        const at = this.meta[2 * k];
        const len = this.meta[2 * k + 1];
        bytes.set(this.arena.subarray(at, at + len), o);
        o += len;
      }
    }
    return { bytes, lens, counts };
  }

  /** Empties the table, keeping its memory for reuse. */
  clear(): void {
    this.slots.fill(0);
    this.size = 0;
    this.nLong = 0;
    this.used = 0;
  }
}

const ENDS_BATCH = 1 << 14;

/**
 * Splits buf[0, length) on special tokens, pretokenizes every piece and adds
 * the pretokens to `table`. The chunk must start and end at safe cuts
 * (see chunking.ts); its end is treated as the end of the text.
 */
export function countChunk(
  buf: Uint8Array, length: number, matcher: SpecialMatcher, table: PretokenTable, stats: CountStats,
): void {
  // Scanning and hashing go through a plain Uint8Array view: element access
  // on Buffer (a Uint8Array subclass) makes these hot functions polymorphic.
  // The view reaches up to 8 bytes past `length` when the buffer has room, so
  // the table's fast path can read whole 8-byte words near the end.
  const room = buf.buffer.byteLength - buf.byteOffset;
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, Math.min(room, length + 8));
  const ends = new Int32Array(ENDS_BATCH);
  const counters: ScanCounters = { invalid: 0 };
  let pretokens = 0;
  let pieces = 0;
  let specials = 0;
  let pos = 0;
  while (pos < length) {
    const sp = matcher.find(bytes, pos, length, length);
    const pieceEnd = sp < 0 ? length : sp;
    if (pieceEnd > pos) pieces++;
    let i = pos;
    while (i < pieceEnd) {
      const n = scanPretokens(bytes, i, pieceEnd, ends, counters);
      table.addRun(bytes, i, ends, n);
      i = ends[n - 1];
      pretokens += n;
    }
    if (sp < 0) break;
    specials++;
    pos = matcher.matchEnd;
  }
  stats.bytes += length;
  stats.pretokens += pretokens;
  stats.pieces += pieces;
  stats.specials += specials;
  stats.invalidUtf8 += counters.invalid;
}
