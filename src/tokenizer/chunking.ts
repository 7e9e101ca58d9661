/**
 * Where a UTF-8 byte stream may be cut so that pretokenizing the parts
 * separately gives exactly the pretokens of the whole. Pure functions over
 * byte arrays, shared by BPE training and encoding.
 *
 * Why a cut is safe:
 * - Special tokens: the text is first split on special tokens (leftmost, then
 *   longest match), so cutting right before a special-token match that no
 *   other occurrence overlaps changes nothing.
 * - Plain text: the GPT-2 pattern has no lookbehind, so the pretokens after a
 *   pretoken boundary depend only on the text after it. The pretoken ending
 *   at the boundary is unaffected by the cut unless it is whitespace (the
 *   `\s+(?!\S)` rule looks ahead). So any boundary after a non-whitespace
 *   pretoken is safe; the fast rule uses "ASCII non-whitespace byte followed by
 *   ASCII whitespace", which is always such a boundary.
 * - When a buffer holds only the start of the stream, boundaries are taken
 *   only where the buffer's end cannot have influenced them: not inside or
 *   right after a (possibly cut-off) special token, not next to a cut-off
 *   UTF-8 character, and not where a contraction ('ll) could still complete.
 */
import { CLASS_SPACE, codePointClass, decodeUtf8At, nextPretokenEnd } from './pretokenizer.ts';
import { SpecialMatcher } from './special-matcher.ts';
import type { FindCut } from '../stages/cut.ts';

function isAsciiSpace(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d);
}

/**
 * The plain-text rule at c (c >= 1): ASCII non-whitespace at c - 1, ASCII
 * whitespace at c, and no special token spanning c or ending at c.
 */
function isTextCut(buf: Uint8Array, c: number, length: number, specials: SpecialMatcher): boolean {
  if (!isAsciiSpace(buf[c])) return false;
  const p = buf[c - 1];
  if (p >= 0x80 || isAsciiSpace(p)) return false;
  return !(specials.maxBytes > 0 && (specials.spans(buf, length, c) || specials.endsAt(buf, c)));
}

/**
 * Largest cut position c in (0, length) found by the fast plain-text rule
 * (ASCII non-whitespace before, ASCII whitespace at c), inside a piece of
 * text (not within or right after a special token, so both sides are
 * non-empty text); -1 when none. Looks back at most `window` bytes.
 */
export function findTextCut(buf: Uint8Array, length: number, specials: SpecialMatcher, window = length): number {
  const stop = Math.max(1, length - window);
  for (let c = length - 1; c >= stop; c--) if (isTextCut(buf, c, length, specials)) return c;
  return -1;
}

/**
 * The first cut position c in [from, length) by the plain-text rule of
 * `findTextCut`, which holds wherever the bytes before `from` came from (it
 * needs only buf[c - 1], buf[c] and the special tokens around c; `buf` should
 * start at least `specials.maxBytes` before `from`); -1 when none. Shard
 * boundaries use it: a boundary moved to such a c splits the input where
 * encoding or counting the parts gives what the whole gives.
 */
export function firstTextCut(buf: Uint8Array, from: number, length: number, specials: SpecialMatcher): number {
  for (let c = Math.max(1, from); c < length; c++) if (isTextCut(buf, c, length, specials)) return c;
  return -1;
}

/**
 * Start of the last special-token match in buf[0, length) that starts after 0
 * and is not overlapped by another occurrence; -1 when none.
 */
export function findSpecialCut(buf: Uint8Array, length: number, specials: SpecialMatcher): number {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let best = -1;
  for (const s of specials.tokenBytes) {
    let from = length - s.length;
    while (from > best) {
      const q = b.lastIndexOf(s, from);
      if (q <= best || q <= 0) break;
      if (!specials.spans(buf, length, q)) { best = q; break; }
      from = q - 1;
    }
  }
  return best;
}

/** Length of buf[0, length) without a UTF-8 sequence cut off at its end. */
export function completeLength(buf: Uint8Array, length: number): number {
  let lead = length - 1;
  while (lead >= 0 && length - lead < 4 && (buf[lead] & 0xc0) === 0x80) lead--;
  if (lead < 0) return length;
  const b = buf[lead];
  const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
  return length - lead < need ? lead : length;
}

function isWhitespacePretoken(buf: Uint8Array, s: number, e: number): boolean {
  const d = decodeUtf8At(buf, s, e);
  if (codePointClass(d >>> 3) !== CLASS_SPACE) return false;
  if (buf[s] !== 0x20 || e === s + 1) return true;
  return codePointClass(decodeUtf8At(buf, s + 1, e) >>> 3) === CLASS_SPACE;
}

/**
 * Slow general rule: scans the whole buffer and returns the last pretoken
 * boundary in (0, length) after a non-whitespace pretoken, or the last
 * special-token start; -1 when none. Used only when text has no ASCII
 * whitespace after a non-space byte.
 */
export function findScannedCut(buf: Uint8Array, length: number, specials: SpecialMatcher): number {
  // The buffer holds only the start of the stream. A special token cut off
  // at its end is scanned as text, so a boundary (or a complete shorter
  // special) inside it is no cut: such a token starts within maxBytes of the
  // end. A character cut off at the end would look invalid and end the
  // pretoken before it too early, and a contraction ('ll) needs two more
  // bytes to be seen: only boundaries well before the end count.
  const nearEnd = length - specials.maxBytes;
  const limit = completeLength(buf, length) - 2;
  let best = -1;
  walkPretokens(buf, length, specials, (i, e) => {
    if (e < limit && !isWhitespacePretoken(buf, i, e) && !(e > nearEnd && specials.spans(buf, length, e))) best = e;
  }, (sp) => {
    if (sp > 0 && !(sp > nearEnd && specials.spans(buf, length, sp))) best = sp;
  });
  return best;
}

/**
 * Walks buf[0, length) as the tokenizer splits it: calls `pretoken(i, e)`
 * for every pretoken of the text between special tokens, and `special(sp)`
 * at the start of each special-token match. The one scanning loop of the
 * cut finders that need exact pretoken boundaries.
 */
function walkPretokens(
  buf: Uint8Array, length: number, specials: SpecialMatcher,
  pretoken: (start: number, end: number) => void, special?: (start: number) => void,
): void {
  const counters = { invalid: 0 };
  let pos = 0;
  while (pos < length) {
    const sp = specials.find(buf, pos, length, length);
    const matchEnd = specials.matchEnd;
    const pieceEnd = sp < 0 ? length : sp;
    for (let i = pos; i < pieceEnd;) {
      const e = nextPretokenEnd(buf, i, pieceEnd, counters);
      pretoken(i, e);
      i = e;
    }
    if (sp < 0) break;
    special?.(sp);
    pos = matchEnd;
  }
}

/** How a chunk was cut from the stream. */
export interface ChunkCut {
  /** Cut offset in (0, length), or -1 when the buffer holds no safe cut. */
  at: number;
  /** True when the cut splits a piece of text (not at a special token). */
  inText: boolean;
}

/**
 * The best (latest) safe cut of buf[0, length): plain-text rule near the end,
 * the last special token, or a full scan as the last resort.
 */
export function findChunkCut(buf: Uint8Array, length: number, specials: SpecialMatcher): ChunkCut {
  const text = findTextCut(buf, length, specials, 1 << 16);
  if (text > 0) return { at: text, inText: true };
  const special = specials.maxBytes > 0 ? findSpecialCut(buf, length, specials) : -1;
  const textFar = findTextCut(buf, length, specials);
  if (special > textFar) return { at: special, inText: false };
  if (textFar > 0) return { at: textFar, inText: true };
  const scanned = findScannedCut(buf, length, specials);
  if (scanned > 0) return { at: scanned, inText: specials.find(buf, scanned, scanned + 1, length) !== scanned };
  return { at: -1, inText: false };
}

/** Pretokens at least this long are searched for junction cuts (`findJunctionCut`). */
const JUNCTION_CUT_MIN_PRETOKEN = 64;

/**
 * For encoding only, when `findChunkCut` finds nothing: the last position c
 * inside a long pretoken (a run of letters, digits or other symbols, not
 * whitespace) where cutting cannot change the ids. Pretokenizing the two
 * sides gives the pretoken's two halves (the pattern has no lookbehind and a
 * run restarted mid-way ends where it did, unless it restarts at an
 * apostrophe, which could begin a contraction), and no merge joins the bytes
 * at c (`joinable[(buf[c - 1] << 8) | buf[c]] === 0`, see
 * `joinableJunctions` in bpe-encode.ts), so the ids are those of the whole.
 * The same end-of-buffer precautions as `findScannedCut` apply. -1 when none.
 */
export function findJunctionCut(buf: Uint8Array, length: number, specials: SpecialMatcher, joinable: Uint8Array): number {
  const nearEnd = length - specials.maxBytes;
  const limit = completeLength(buf, length) - 2;
  let best = -1;
  walkPretokens(buf, length, specials, (i, e) => {
    if (e - i < JUNCTION_CUT_MIN_PRETOKEN || isWhitespacePretoken(buf, i, e)) return;
    // Character boundaries c in [i + 2, min(e, limit)).
    const stop = Math.min(e, limit);
    let c = i + ((decodeUtf8At(buf, i, e) & 7));
    while (c < stop) {
      if (c >= i + 2 && joinable[(buf[c - 1] << 8) | buf[c]] === 0 && buf[c] !== 0x27
        && !(c > nearEnd && specials.spans(buf, length, c))) best = c;
      c += decodeUtf8At(buf, c, e) & 7;
    }
  });
  return best;
}

/**
 * The cut finder of the `cut` stage (stages/cut.ts) for counting and
 * encoding: `findChunkCut`, and with an encoder's `joinable` table also a cut
 * inside a long pretoken where no merge can span it (`findJunctionCut`), so a
 * run of megabytes without whitespace is encoded in bounded pieces whenever
 * the merges allow it. (Counting cannot cut there: a pretoken is counted whole.)
 */
export function safeCutFinder(specials: SpecialMatcher, joinable?: Uint8Array): FindCut {
  return (buf, length) => {
    const cut = findChunkCut(buf, length, specials);
    if (cut.at > 0 || joinable === undefined) return { at: Math.max(0, cut.at), continues: cut.inText };
    return { at: Math.max(0, findJunctionCut(buf, length, specials, joinable)), continues: true };
  };
}

/**
 * Defaults of the longest stretch without a safe cut (one pretoken, in
 * practice) held whole: `--max-pretoken-mb`. Training keeps it lower: a run
 * of one repeated character of n bytes yields tokens of up to n bytes,
 * about n·log2(n) bytes of vocabulary in all (8 MB of one letter: a 188 MB
 * vocab.json, 1.8 GB peak to write it). Encoding only holds the run.
 */
export const DEFAULT_TRAIN_MAX_PRETOKEN_BYTES = 4 << 20;
export const DEFAULT_ENCODE_MAX_PRETOKEN_BYTES = 16 << 20;

/**
 * The one-line error for a stretch of more than `limit` bytes without a safe
 * cut, starting at byte `offset` of `source`; `what` says what needs it
 * whole (e.g. 'train on it exactly').
 */
export function longStretchMessage(source: string, offset: number, limit: number, what: string): string {
  const mb = limit / (1 << 20);
  const shown = Number.isInteger(mb) ? String(mb) : mb.toFixed(3);
  return `${source}: from byte ${offset}, more than ${shown} MB without a place to cut (one pretoken that long: a run of letters, digits or symbols with no whitespace); `
    + `raise --max-pretoken-mb above ${shown} to ${what} (memory grows with it, see --help), or remove that run from the input`;
}
