/**
 * A hand-written scanner over UTF-8 bytes that splits text exactly like the
 * GPT-2 pattern in `gpt2-pattern.ts` (which stays the specification):
 *
 *   '(?:[sdmt]|ll|ve|re) | ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ | \s+(?!\S) | \s+
 *
 * It works on bytes so that counting never builds a JS string per pretoken.
 * Characters are classified as letter / number / whitespace / other with a
 * per-code-point table filled lazily from the very same `\p{L}`, `\p{N}` and
 * `\p{White_Space}` regex tests (the pattern's `\s`, see `gpt2-pattern.ts`),
 * so the scanner follows the engine's Unicode version.
 *
 * Invalid UTF-8 is not fatal. Each maximal invalid subpart (the unit that the
 * WHATWG decoder, i.e. `TextDecoder`, turns into one U+FFFD) is classified as
 * U+FFFD would be ("other") while its original bytes stay in the pretoken.
 * So the split equals the regex applied to `new TextDecoder().decode(bytes)`,
 * mapped back to the original byte ranges; every invalid subpart is counted.
 */

/** Character classes of the GPT-2 pattern. */
export const CLASS_LETTER = 1;
export const CLASS_NUMBER = 2;
export const CLASS_SPACE = 3;
export const CLASS_OTHER = 4;

/** Pseudo code point returned by the decoder for an invalid subpart. */
export const INVALID_CODE_POINT = 0x110000;

const CLASS_TABLE = new Uint8Array(INVALID_CODE_POINT + 1);
CLASS_TABLE[INVALID_CODE_POINT] = CLASS_OTHER;

const LETTER_RE = /^\p{L}$/u;
const NUMBER_RE = /^\p{N}$/u;
const SPACE_RE = /^\p{White_Space}$/u;

function classifySlow(cp: number): number {
  const s = String.fromCodePoint(cp);
  const k = LETTER_RE.test(s) ? CLASS_LETTER
    : NUMBER_RE.test(s) ? CLASS_NUMBER
      : SPACE_RE.test(s) ? CLASS_SPACE
        : CLASS_OTHER;
  CLASS_TABLE[cp] = k;
  return k;
}

for (let cp = 0; cp < 0x80; cp++) classifySlow(cp);

/** The GPT-2 pattern class of a code point (INVALID_CODE_POINT is "other"). */
export function codePointClass(cp: number): number {
  const k = CLASS_TABLE[cp];
  return k !== 0 ? k : classifySlow(cp);
}

/**
 * Decodes one character at `i` (i < end): returns `codePoint * 8 + byteLength`.
 * Invalid input yields INVALID_CODE_POINT with the length of the maximal
 * invalid subpart, as the WHATWG decoder delimits it.
 */
export function decodeUtf8At(buf: Uint8Array, i: number, end: number): number {
  const b0 = buf[i];
  if (b0 < 0x80) return b0 * 8 + 1;
  if (b0 < 0xc2) return INVALID_CODE_POINT * 8 + 1;
  if (b0 < 0xe0) {
    if (i + 1 < end) {
      const b1 = buf[i + 1];
      if ((b1 & 0xc0) === 0x80) return (((b0 & 0x1f) << 6) | (b1 & 0x3f)) * 8 + 2;
    }
    return INVALID_CODE_POINT * 8 + 1;
  }
  if (b0 < 0xf0) {
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf;
    if (i + 1 >= end) return INVALID_CODE_POINT * 8 + 1;
    const b1 = buf[i + 1];
    if (b1 < lo || b1 > hi) return INVALID_CODE_POINT * 8 + 1;
    if (i + 2 >= end) return INVALID_CODE_POINT * 8 + 2;
    const b2 = buf[i + 2];
    if ((b2 & 0xc0) !== 0x80) return INVALID_CODE_POINT * 8 + 2;
    return (((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f)) * 8 + 3;
  }
  if (b0 < 0xf5) {
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    if (i + 1 >= end) return INVALID_CODE_POINT * 8 + 1;
    const b1 = buf[i + 1];
    if (b1 < lo || b1 > hi) return INVALID_CODE_POINT * 8 + 1;
    if (i + 2 >= end) return INVALID_CODE_POINT * 8 + 2;
    const b2 = buf[i + 2];
    if ((b2 & 0xc0) !== 0x80) return INVALID_CODE_POINT * 8 + 2;
    if (i + 3 >= end) return INVALID_CODE_POINT * 8 + 3;
    const b3 = buf[i + 3];
    if ((b3 & 0xc0) !== 0x80) return INVALID_CODE_POINT * 8 + 3;
    return (((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f)) * 8 + 4;
  }
  return INVALID_CODE_POINT * 8 + 1;
}

/** Class of the character at `i` (i < end), without its length. */
function classAt(buf: Uint8Array, i: number, end: number): number {
  const b = buf[i];
  if (b < 0x80) return CLASS_TABLE[b];
  return codePointClass(decodeUtf8At(buf, i, end) >>> 3);
}

/** Mutable tallies the scanner keeps across calls. */
export interface ScanCounters {
  /** Number of invalid UTF-8 subparts consumed so far. */
  invalid: number;
}

/** RUN_TABLE[cls * 256 + b] = 1 when byte b is an ASCII character of class cls. */
const RUN_TABLE = new Uint8Array(5 * 256);
for (let b = 0; b < 0x80; b++) RUN_TABLE[CLASS_TABLE[b] * 256 + b] = 1;

/** End of the run of `cls` characters starting at `i` (excluding). */
function runEnd(buf: Uint8Array, i: number, end: number, cls: number, counters: ScanCounters): number {
  const base = cls * 256;
  for (;;) {
    // ASCII fast path: one table test per byte.
    while (i < end && RUN_TABLE[base + buf[i]] !== 0) i++;
    if (i >= end || buf[i] < 0x80) return i;
    const d = decodeUtf8At(buf, i, end);
    const cp = d >>> 3;
    const k = CLASS_TABLE[cp] || classifySlow(cp);
    if (k !== cls) return i;
    if (cp === INVALID_CODE_POINT) counters.invalid++;
    i += d & 7;
  }
}

/**
 * Length of a contraction ('s 'd 'm 't 'll 've 're) at `i`, where buf[i] is
 * an apostrophe; 0 when none.
 */
function contractionLength(buf: Uint8Array, i: number, end: number): number {
  if (i + 1 >= end) return 0;
  const c1 = buf[i + 1];
  if (c1 === 0x73 || c1 === 0x64 || c1 === 0x6d || c1 === 0x74) return 2; // s d m t
  if (i + 2 >= end) return 0;
  const c2 = buf[i + 2];
  if ((c1 === 0x6c && c2 === 0x6c) || (c1 === 0x76 && c2 === 0x65) || (c1 === 0x72 && c2 === 0x65)) return 3;
  return 0;
}

/** End of the pretoken that starts at `i` (i < end) in the piece ending at `end`. */
export function nextPretokenEnd(buf: Uint8Array, i: number, end: number, counters: ScanCounters): number {
  const b = buf[i];
  if (b < 0x80) {
    if (b === 0x27) {
      const n = contractionLength(buf, i, end);
      if (n !== 0) return i + n;
    } else if (b === 0x20 && i + 1 < end) {
      const k = classAt(buf, i + 1, end);
      if (k !== CLASS_SPACE) return runEnd(buf, i + 1, end, k, counters);
    }
    const cls = CLASS_TABLE[b];
    if (cls !== CLASS_SPACE) return runEnd(buf, i + 1, end, cls, counters);
  } else {
    const d = decodeUtf8At(buf, i, end);
    const cp = d >>> 3;
    const cls = codePointClass(cp);
    if (cls !== CLASS_SPACE) {
      if (cp === INVALID_CODE_POINT) counters.invalid++;
      return runEnd(buf, i + (d & 7), end, cls, counters);
    }
  }
  // Whitespace: `\s+(?!\S)` keeps the whole run at the end of the piece, and
  // otherwise gives back the last whitespace character (when the run has more
  // than one) so that it can prefix the next word; `\s+` takes a single one.
  let j = i;
  let lastStart = i;
  while (j < end) {
    const c = buf[j];
    let len: number;
    if (c < 0x80) {
      if (CLASS_TABLE[c] !== CLASS_SPACE) break;
      len = 1;
    } else {
      const d = decodeUtf8At(buf, j, end);
      if (codePointClass(d >>> 3) !== CLASS_SPACE) break;
      len = d & 7;
    }
    lastStart = j;
    j += len;
  }
  if (j === end || lastStart === i) return j;
  return lastStart;
}

/**
 * Scans pretokens of the piece [start, end) and writes each pretoken's end
 * offset into `ends`, stopping when `ends` is full. Returns how many were
 * written; resume from the last end written (a pretoken boundary is a clean
 * restart point because the pattern has no lookbehind).
 */
export function scanPretokens(
  buf: Uint8Array, start: number, end: number, ends: Int32Array, counters: ScanCounters,
): number {
  let n = 0;
  let i = start;
  const cap = ends.length;
  while (i < end && n < cap) {
    i = nextPretokenEnd(buf, i, end, counters);
    ends[n++] = i;
  }
  return n;
}

/** All pretokens of one piece of bytes, as subarrays (convenience for tests and tools). */
export function pretokenizeBytes(buf: Uint8Array, counters: ScanCounters = { invalid: 0 }): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < buf.length) {
    const e = nextPretokenEnd(buf, i, buf.length, counters);
    out.push(buf.subarray(i, e));
    i = e;
  }
  return out;
}
