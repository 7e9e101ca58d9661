/**
 * Documents inside a document-aligned unit (see items.ts): the pieces between
 * separators, each followed by the separator except possibly the last. The
 * document stages (filter-docs, dedup-docs) take a unit apart with
 * `unitDocuments` and put the kept documents back with `joinDocuments`, so a
 * unit whose documents are all kept comes out byte-identical.
 */

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
