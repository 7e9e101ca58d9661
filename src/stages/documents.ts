/**
 * Documents inside a document-aligned unit (see items.ts): the pieces between
 * separators, each followed by the separator except possibly the last. The
 * document stages (filter-docs, dedup-docs) take a unit apart with
 * `unitDocuments` and put the kept documents back with `joinDocuments`, so a
 * unit whose documents are all kept comes out byte-identical.
 */
import { createHash } from 'node:crypto';
import { ownedConcat, ownedCopy, type Unit } from './items.ts';

/** One document of a unit: `[start, end)` of its text, and whether the separator follows it. */
export interface DocSpan {
  start: number;
  end: number;
  separated: boolean;
}

/** The documents of a unit's bytes (a trailing empty piece after the last separator is not a document). */
export function unitDocuments(data: Uint8Array, separator: Uint8Array): DocSpan[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out: DocSpan[] = [];
  let start = 0;
  if (separator.length === 0) return data.length > 0 ? [{ start: 0, end: data.length, separated: false }] : [];
  for (;;) {
    const i = buf.indexOf(separator, start);
    if (i < 0) break;
    out.push({ start, end: i, separated: true });
    start = i + separator.length;
  }
  if (start < data.length) out.push({ start, end: data.length, separated: false });
  return out;
}

/** The kept documents' bytes, each with its separator as it was. */
export function joinDocuments(data: Uint8Array, docs: readonly DocSpan[], separator: Uint8Array): Uint8Array {
  let n = 0;
  for (const d of docs) n += d.end - d.start + (d.separated ? separator.length : 0);
  const out = new Uint8Array(n);
  let at = 0;
  for (const d of docs) {
    out.set(data.subarray(d.start, d.end), at);
    at += d.end - d.start;
    if (d.separated) { out.set(separator, at); at += separator.length; }
  }
  return out;
}

const asBuffer = (d: Uint8Array): Buffer => Buffer.from(d.buffer, d.byteOffset, d.byteLength);

/** End of the last separator in `data` under a leftmost scan (as `unitDocuments` finds them), or 0. */
export function lastDocumentEnd(data: Uint8Array, separator: Uint8Array): number {
  const buf = asBuffer(data);
  let cut = 0;
  for (;;) {
    const i = buf.indexOf(separator, cut);
    if (i < 0) return cut;
    cut = i + separator.length;
  }
}

/** Length of the longest suffix of `data` that is a proper prefix of `separator` (a separator maybe cut by a read). */
export function partialSeparatorLength(data: Uint8Array, separator: Uint8Array): number {
  const buf = asBuffer(data);
  for (let k = Math.min(separator.length - 1, buf.length); k > 0; k--) {
    if (buf.compare(separator, 0, k, buf.length - k, buf.length) === 0) return k;
  }
  return 0;
}

/**
 * Non-empty documents that end in `data`, and whether one is still open at
 * its end: `inDoc` says one was open at its start (a `continues` unit before
 * it); a unit that does not continue closes its last document.
 */
export function endedDocuments(data: Uint8Array, separator: Uint8Array, inDoc: boolean, continues: boolean): { ended: number; inDoc: boolean } {
  const buf = asBuffer(data);
  let ended = 0;
  let pos = 0;
  for (;;) {
    const i = buf.indexOf(separator, pos);
    if ((i < 0 ? buf.length : i) > pos) inDoc = true;
    if (i < 0) break;
    if (inDoc) ended++;
    inDoc = false;
    pos = i + separator.length;
  }
  if (!continues && inDoc) { ended++; inDoc = false; }
  return { ended, inDoc };
}

/**
 * Joins the pieces of documents cut across `continues` units, so every unit
 * out holds whole documents: what the document stages need (a document is
 * judged, or hashed, whole; this holds the longest document in memory, which
 * only matters when a filter or dedup stage is on). `docIndex` is kept right.
 */
export async function* wholeDocuments(source: AsyncIterable<Unit>, separator: Uint8Array): AsyncGenerator<Unit> {
  let parts: Uint8Array[] = [];
  let partsOffset = 0;
  let partsIndex: number | undefined;
  let seq = 0;
  const joined = (tail: Uint8Array): Uint8Array => (parts.length === 0 ? tail : ownedConcat([...parts, tail]));
  for await (const u of source) {
    if (parts.length === 0 && !u.continues) { yield { ...u, seq: seq++ }; continue; }
    const cut = u.continues ? lastDocumentEnd(u.data, separator) : u.data.length;
    const head = u.data.subarray(0, cut);
    const base = parts.length > 0 ? { offset: partsOffset, docIndex: partsIndex } : { offset: u.offset, docIndex: u.docIndex };
    if (!u.continues || cut > 0) {
      const data = joined(head);
      const { continues: _, ...rest } = u;
      yield { ...rest, seq: seq++, offset: base.offset, data, last: u.continues ? false : u.last, ...(base.docIndex !== undefined ? { docIndex: base.docIndex } : {}) };
      parts = [];
      if (!u.continues) continue;
      partsOffset = u.offset + cut;
      partsIndex = base.docIndex === undefined ? undefined : base.docIndex + endedDocuments(data, separator, false, false).ended;
    } else if (parts.length === 0) {
      partsOffset = u.offset;
      partsIndex = u.docIndex;
    }
    // A copy: the head went on in its unit, which owns u.data's buffer.
    parts.push(ownedCopy(u.data.subarray(cut)));
  }
  if (parts.length > 0) throw new Error('wholeDocuments: the stream ended inside a continued document');
}

/** The number of each span's document (see `Unit.docIndex`, `Unit.docs`); undefined for empty ones or when the unit has none. */
export function documentNumbers(unit: Unit, spans: readonly DocSpan[]): (number | undefined)[] {
  let k = 0;
  return spans.map((d) => {
    if (d.end === d.start) return undefined;
    const n = unit.docs ? unit.docs[k] : unit.docIndex === undefined ? undefined : unit.docIndex + k;
    k++;
    return n;
  });
}

/** The unit with only the `kept` spans (indices into `spans`), its documents keeping their numbers. */
export function keptUnit(unit: Unit, spans: readonly DocSpan[], kept: readonly number[], separator: Uint8Array): Unit {
  const numbers = documentNumbers(unit, spans);
  const data = joinDocuments(unit.data, kept.map((i) => spans[i]), separator);
  const docs = kept.map((i) => numbers[i]).filter((n): n is number => n !== undefined);
  return { ...unit, data, ...(unit.docs || unit.docIndex !== undefined ? { docs } : {}) };
}

/**
 * Deterministic uniform [0, 1) value for document `index` under `seed`
 * (a 32-bit integer hash, so the split does not depend on chunking).
 */
export function documentDraw(seed: number, index: number): number {
  let h = (Math.imul(index ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(seed + 0x632be5ab, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/**
 * Deterministic uniform [0, 1) value for a document's bytes under `seed`:
 * `documentDraw` of the first 32 bits of its SHA-1. It depends on nothing
 * but the text, so any shard of a sharded split (which cannot know a
 * document's number in the whole corpus) draws the same side for it, and a
 * document repeated anywhere in the corpus always lands on the same side.
 */
export function contentDraw(seed: number, bytes: Uint8Array): number {
  return documentDraw(seed, createHash('sha1').update(bytes).digest().readUInt32LE(0));
}
