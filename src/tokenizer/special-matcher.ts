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

/**
 * A byte-level trie of special tokens: the leftmost-longest search that
 * splits text into pieces (encoding and training count with it), and the
 * occurrence tests that decide where a byte stream may be cut (chunking.ts).
 */
export class SpecialMatcher {
  /** Tokens in the order given (`matchToken` indexes this list). */
  readonly tokens: readonly string[];
  /** UTF-8 bytes of each token. */
  readonly tokenBytes: readonly Uint8Array[];
  /** Longest token in bytes (0 when there are none). */
  readonly maxBytes: number;
  /** Trie: node -> 256 children (0 = none); node 0 is the root. */
  private readonly children: Int32Array[] = [];
  /** Token index that ends at a node, or -1. */
  private readonly terminal: number[] = [];
  /** 1 at a node with children (a longer token goes on from there). */
  private readonly open: number[] = [];
  private readonly firstByte = new Uint8Array(256);
  /** The one first byte every token starts with, or -1 (then a table is used). */
  private readonly soleFirst: number;
  /** Set by `find`: end (exclusive) and token index of the match. */
  matchEnd = 0;
  matchToken = -1;

  /** Throws on an empty token (it would match everywhere); a repeated token keeps its first index. */
  constructor(tokens: readonly string[]) {
    this.tokens = tokens;
    const enc = new TextEncoder();
    this.children.push(new Int32Array(256));
    this.terminal.push(-1);
    this.open.push(0);
    let maxBytes = 0;
    const firsts = new Set<number>();
    this.tokenBytes = tokens.map((t) => enc.encode(t));
    this.tokenBytes.forEach((bytes, index) => {
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
          this.open.push(0);
          this.children[node][byte] = child;
          this.open[node] = 1;
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
    if (this.maxBytes === 0) return -1;
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

  /**
   * True when an occurrence of some token in b[0, length) starts before `pos`
   * and reaches past it, counting one cut off by `length` (the bytes there
   * are the start of a token: more input could complete it).
   */
  spans(b: Uint8Array, length: number, pos: number): boolean {
    for (let start = Math.max(0, pos - this.maxBytes + 1); start < pos; start++) {
      let node = 0;
      let q = start;
      for (; q < length; q++) {
        node = this.children[node][b[q]];
        if (node === 0) break;
        if (q >= pos && this.terminal[node] >= 0) return true;
      }
      // Cut off by `length` with a longer token still possible.
      if (q === length && node !== 0 && this.open[node] === 1) return true;
    }
    return false;
  }

  /** True when some token's bytes end exactly at `pos`. */
  endsAt(b: Uint8Array, pos: number): boolean {
    for (let start = Math.max(0, pos - this.maxBytes); start < pos; start++) {
      let node = 0;
      for (let q = start; q < pos && node >= 0; q++) node = this.children[node][b[q]] || -1;
      if (node > 0 && this.terminal[node] >= 0) return true;
    }
    return false;
  }
}
