/**
 * Document boundaries in a byte stream: documents are separated by a
 * separator (usually `<|endoftext|>`). Used to cut work units at document
 * ends and to route whole documents (train/validation split).
 */

/** Index just past the last separator in `buf`, or 0 when there is none. */
export function lastSeparatorEnd(buf: Buffer, sep: Buffer): number {
  const i = buf.lastIndexOf(sep);
  return i < 0 ? 0 : i + sep.length;
}

/** Splits `buf` into documents (separators removed); empty documents are kept as empty buffers. */
export function splitDocuments(buf: Buffer, sep: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (;;) {
    const i = buf.indexOf(sep, start);
    if (i < 0) break;
    out.push(buf.subarray(start, i));
    start = i + sep.length;
  }
  out.push(buf.subarray(start));
  return out;
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
