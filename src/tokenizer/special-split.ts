/**
 * Finding special tokens (such as `<|endoftext|>`) in text before
 * pretokenization, so that no pretoken or merge ever spans one. Matching is
 * leftmost-longest: the earliest occurrence wins, and among tokens starting
 * there the longest (`<|endoftext|><|endoftext|>` beats `<|endoftext|>`).
 * Matching works on UTF-8 bytes; since special tokens are valid UTF-8 and
 * begin with a lead byte, a byte match is exactly a match in the decoded text.
 */

/** A special token and its id. */
export interface SpecialToken {
  text: string;
  id: number;
}

/** A byte-level trie of special tokens with the leftmost-longest search. */
export class SpecialMatcher {
  /** Tokens in the order given. */
  readonly tokens: readonly SpecialToken[];
  /** UTF-8 bytes of each token. */
  readonly tokenBytes: readonly Uint8Array[];
  /** Longest token in bytes (0 when there are none). */
  readonly maxBytes: number;
  /** Trie: node -> 256 children (0 = none); node 0 is the root. */
  private readonly children: Int32Array[] = [];
  /** Token index that ends at a node, or -1. */
  private readonly terminal: number[] = [];
  private readonly firstByte = new Uint8Array(256);
  /** The one first byte every token starts with, or -1 (then a table is used). */
  private readonly soleFirst: number;
  /** Set by `find`: end (exclusive) and token index of the match. */
  matchEnd = 0;
  matchToken = -1;

  constructor(tokens: readonly SpecialToken[]) {
    this.tokens = tokens;
    const enc = new TextEncoder();
    this.children.push(new Int32Array(256));
    this.terminal.push(-1);
    let maxBytes = 0;
    const firsts = new Set<number>();
    this.tokenBytes = tokens.map((t) => enc.encode(t.text));
    tokens.forEach((t, index) => {
      const bytes = this.tokenBytes[index];
      if (bytes.length === 0) throw new Error('a special token cannot be the empty string');
      maxBytes = Math.max(maxBytes, bytes.length);
      firsts.add(bytes[0]);
      this.firstByte[bytes[0]] = 1;
      let node = 0;
      for (const byte of bytes) {
        let child = this.children[node][byte];
        if (child === 0) {
          child = this.children.length;
          this.children.push(new Int32Array(256));
          this.terminal.push(-1);
          this.children[node][byte] = child;
        }
        node = child;
      }
      if (this.terminal[node] < 0) this.terminal[node] = index;
    });
    this.maxBytes = maxBytes;
    this.soleFirst = firsts.size === 1 ? [...firsts][0] : -1;
  }

  /**
   * Finds the leftmost-longest special token in `b` starting in
   * [from, startLimit) and ending at or before `end`. Returns its start (and
   * sets `matchEnd`, `matchToken`), or -1 when there is none.
   */
  find(b: Uint8Array, from: number, startLimit: number, end: number): number {
    if (this.tokens.length === 0) return -1;
    let p = from;
    while (p < startLimit) {
      if (this.soleFirst >= 0) {
        p = b.indexOf(this.soleFirst, p);
        if (p < 0 || p >= startLimit) return -1;
      } else if (this.firstByte[b[p]] === 0) {
        p++;
        continue;
      }
      let node = 0;
      let best = -1;
      let bestEnd = 0;
      for (let q = p; q < end; q++) {
        node = this.children[node][b[q]];
        if (node === 0) break;
        if (this.terminal[node] >= 0) {
          best = this.terminal[node];
          bestEnd = q + 1;
        }
      }
      if (best >= 0) {
        this.matchEnd = bestEnd;
        this.matchToken = best;
        return p;
      }
      p++;
    }
    return -1;
  }
}

/** A piece of text: ordinary text, or one special token. */
export interface TextPiece {
  text: string;
  /** Index in the special-token list when this piece is a special token, else -1. */
  special: number;
}

/**
 * Splits `text` into ordinary text and special tokens, leftmost-longest.
 * Ordinary pieces are never empty. This is the string-level twin of
 * `SpecialMatcher.find`, for callers that work on strings (training,
 * inspection); the encoder itself works on bytes.
 */
export function splitOnSpecialTokens(text: string, specials: readonly string[]): TextPiece[] {
  const out: TextPiece[] = [];
  if (specials.length === 0) {
    if (text.length > 0) out.push({ text, special: -1 });
    return out;
  }
  if (specials.some((s) => s.length === 0)) throw new Error('a special token cannot be the empty string');
  // Next occurrence of each special at or after the scan position (cached).
  const next = specials.map(() => -2);
  let last = 0;
  for (;;) {
    let best = -1;
    let bestStart = -1;
    for (let k = 0; k < specials.length; k++) {
      if (next[k] !== -1 && next[k] < last) next[k] = text.indexOf(specials[k], last);
      const i = next[k];
      if (i < 0) continue;
      if (best < 0 || i < bestStart || (i === bestStart && specials[k].length > specials[best].length)) {
        best = k;
        bestStart = i;
      }
    }
    if (best < 0) break;
    if (bestStart > last) out.push({ text: text.slice(last, bestStart), special: -1 });
    out.push({ text: specials[best], special: best });
    last = bestStart + specials[best].length;
  }
  if (last < text.length) out.push({ text: text.slice(last), special: -1 });
  return out;
}
