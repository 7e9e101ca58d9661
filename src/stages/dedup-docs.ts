/**
 * dedup-docs: drops exact duplicate documents (same bytes) from
 * document-aligned units, keeping the first occurrence. A document is
 * remembered by a 64-bit hash of its bytes (the first 8 bytes of its SHA-1,
 * computed natively by node:crypto); at 64 bits two different documents
 * collide with probability about n²/2⁶⁵ — under 10⁻⁵ for 10⁷ documents.
 *
 * Memory is bounded: the hashes live in one open-addressing table of
 * `maxMb` megabytes (8 bytes a slot, filled to 3/4). When it is full, new
 * documents are still compared against every remembered one but are no
 * longer remembered themselves; the stage warns once and counts them as
 * `unchecked` in the summary.
 */
import { createHash } from 'node:crypto';
import type { Stage } from '../pipeline/stage.ts';
import { keptUnit, unitDocuments, wholeDocuments } from './documents.ts';
import type { DocSpan } from './documents.ts';
import type { Unit } from './items.ts';

export interface DedupDocsOptions {
  /** The document separator (the end-of-text special token). */
  separator: string;
  /** Size of the hash table in MB (default 256: a 134 MB table of 2^24 slots, about 12.5 M documents; the table is the largest power of two of slots that fits). */
  maxMb?: number;
}

/** A set of 64-bit values (as two 32-bit halves) in a fixed-size table. */
export class HashSet64 {
  readonly #hi: Uint32Array;
  readonly #lo: Uint32Array;
  readonly #mask: number;
  readonly capacity: number;
  size = 0;

  /** A table of `bytes` bytes (rounded down to a power-of-two number of slots). */
  constructor(bytes: number) {
    let slots = 1024;
    while (slots * 2 * 8 <= bytes) slots *= 2;
    this.#hi = new Uint32Array(slots);
    this.#lo = new Uint32Array(slots);
    this.#mask = slots - 1;
    this.capacity = Math.floor(slots * 0.75);
  }

  /** Bytes the table holds. */
  get bytes(): number { return this.#hi.byteLength + this.#lo.byteLength; }

  /**
   * 'seen' when the value is in the set; else adds it ('added') or, with the
   * table full, leaves it out ('full'). (0, 0) stands for an empty slot, so
   * the value 0 is stored as (0, 1).
   */
  check(hi: number, lo: number): 'seen' | 'added' | 'full' {
    if (hi === 0 && lo === 0) lo = 1;
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.#mask;
    for (;;) {
      const h = this.#hi[i];
      const l = this.#lo[i];
      if (h === 0 && l === 0) break;
      if (h === hi && l === lo) return 'seen';
      i = (i + 1) & this.#mask;
    }
    if (this.size >= this.capacity) return 'full';
    this.#hi[i] = hi;
    this.#lo[i] = lo;
    this.size++;
    return 'added';
  }
}

/** The dedup-docs stage. */
export function dedupDocs(o: DedupDocsOptions): Stage<Unit, Unit> {
  const sep = new TextEncoder().encode(o.separator);
  const maxMb = o.maxMb ?? 256;
  let table: HashSet64 | null = null;
  let warned = false;
  return {
    name: 'dedup-docs',
    description: `drop exact duplicate documents (64-bit hashes in at most ${maxMb} MB)`,
    bytesOf: (u) => u.data.length,
    async *run(source, ctx) {
      table ??= new HashSet64(maxMb * 1e6);
      const set = table;
      ctx.count('table_mb', Math.round(set.bytes / 1e6));
      for await (const unit of wholeDocuments(source, sep)) {
        const docs = unitDocuments(unit.data, sep);
        const kept = docs.flatMap((d, i) => (keepDoc(d) ? [i] : []));
        function keepDoc(d: DocSpan): boolean {
          const digest = createHash('sha1').update(unit.data.subarray(d.start, d.end)).digest();
          const verdict = set.check(digest.readUInt32LE(0), digest.readUInt32LE(4));
          if (verdict === 'seen') { ctx.count('dropped_duplicates'); return false; }
          if (verdict === 'full') {
            ctx.count('unchecked');
            if (!warned) {
              warned = true;
              ctx.warn(`dedup-docs: the ${maxMb} MB hash table is full (${set.size} documents remembered); later documents are compared with those but not remembered themselves (raise --dedup-max-mb)`);
            }
          }
          return true;
        }
        ctx.count('documents_in', docs.length);
        ctx.count('documents_out', kept.length);
        yield kept.length === docs.length ? unit : keptUnit(unit, docs, kept, sep);
      }
    },
  };
}
