/**
 * Chunk cuts must not change pretokenization: the pretokens of the parts
 * equal those of the whole (oracle: split on special tokens naively, then the
 * GPT-2 regex). Also: counts are independent of the chunk size, and memory
 * (the largest chunk) stays bounded on a long single-line input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  findChunkCut, safeCutFinder, findScannedCut, findSpecialCut, findTextCut,
} from '../src/tokenizer/chunking.ts';
import { SpecialMatcher } from '../src/tokenizer/special-matcher.ts';
import { trainBpe } from '../src/tokenizer/bpe-train.ts';
import { PretokenTable, countChunk, emptyCountStats } from '../src/tokenizer/pretoken-count.ts';
import { pretokenizeRegex } from '../src/tokenizer/gpt2-pattern.ts';
import { SafeCutter } from '../src/stages/cut.ts';
import { fixturePath } from '../src/util/shared-data.ts';
import { sotuText } from './helpers/sotu.ts';
import { rng } from './tokenizer-helpers.ts';

/** Oracle: leftmost-longest split on specials, then the regex on each piece. */
function oracle(text: string, specials: readonly string[]): string[] {
  const out: string[] = [];
  let piece = '';
  let i = 0;
  while (i < text.length) {
    let best = '';
    for (const s of specials) if (s.length > best.length && text.startsWith(s, i)) best = s;
    if (best) {
      out.push(...pretokenizeRegex(piece), `<special:${best}>`);
      piece = '';
      i += best.length;
    } else {
      piece += text[i++];
    }
  }
  out.push(...pretokenizeRegex(piece));
  return out;
}

const PIECES = [
  'word', ' the', 'Cat', '42', ' 7', '.', '!?', "'s", "'ll", ' ', '  ', '   ', '\n', '\n\n', '\t', '\u00a0',
  '\u3000', '中文', '。', 'é', '🙃', '<|endoftext|>', '<|end', 'oftext|>', '<|', '|>', '<s>', '<s><s>',
];

function randomText(r: () => number, parts: number): string {
  let s = '';
  for (let i = 0; i < parts; i++) s += PIECES[Math.floor(r() * PIECES.length)];
  return s;
}

const SPECIALS = ['<|endoftext|>', '<s>', '<s><s>'];

test('every cut found in a prefix splits the text without changing its pretokens', () => {
  const r = rng(7);
  const matcher = new SpecialMatcher(SPECIALS);
  let checked = 0;
  for (let k = 0; k < 3000; k++) {
    const text = randomText(r, 4 + Math.floor(r() * 40));
    const bytes = Buffer.from(text);
    const whole = oracle(text, SPECIALS);
    // The cut finder only sees a prefix, as a chunk buffer would.
    const n = 1 + Math.floor(r() * bytes.length);
    const cuts = [
      findChunkCut(bytes, n, matcher).at,
      findTextCut(bytes, n, matcher),
      findSpecialCut(bytes, n, matcher),
      findScannedCut(bytes, n, matcher),
    ];
    for (const c of cuts) {
      if (c <= 0) continue;
      assert.ok(c < n, `cut ${c} outside the prefix of ${n} bytes`);
      const a = bytes.subarray(0, c).toString();
      const b = bytes.subarray(c).toString();
      assert.equal(a + b, text, `cut ${c} splits a character in ${JSON.stringify(text)}`);
      assert.deepEqual([...oracle(a, SPECIALS), ...oracle(b, SPECIALS)], whole, `cut ${c} of ${JSON.stringify(text)}`);
      checked++;
    }
  }
  assert.ok(checked > 3000, `only ${checked} cuts checked`);
});

test('special tokens: leftmost match, longest wins at one position', () => {
  const m = new SpecialMatcher(['<|endoftext|>', '<|endoftext|><|endoftext|>']);
  const buf = Buffer.from('a<|endoftext|><|endoftext|>b<|endoftext|>');
  const found: string[] = [];
  let pos = 0;
  for (;;) {
    const at = m.find(buf, pos, buf.length, buf.length);
    if (at < 0) break;
    found.push(`${at}+${m.matchEnd - at}`);
    pos = m.matchEnd;
  }
  assert.deepEqual(found, ['1+26', '28+13']);
  // A match must end by `end`: the pair cut short there leaves the single token.
  assert.equal(m.find(buf, 0, buf.length, 20), 1);
  assert.equal(m.matchEnd, 14);
});

test('special-token matcher: search, spanning and ending occurrences equal a naive scan', () => {
  const r = rng(5);
  const alphabet = ['<', '|', 'e', '>', 'a', 'é', ' '];
  for (let k = 0; k < 300; k++) {
    const tokens = new Set<string>();
    for (let n = 1 + Math.floor(r() * 4); n > 0; n--) {
      let t = '';
      for (let len = 1 + Math.floor(r() * 4); len > 0; len--) t += alphabet[Math.floor(r() * alphabet.length)];
      tokens.add(t);
    }
    const specials = [...tokens].map((t) => Buffer.from(t));
    const m = new SpecialMatcher([...tokens]);
    let text = '';
    for (let len = Math.floor(r() * 24); len > 0; len--) text += r() < 0.2 ? [...tokens][Math.floor(r() * tokens.size)] : alphabet[Math.floor(r() * alphabet.length)];
    const b = Buffer.from(text);
    const length = Math.floor(r() * (b.length + 1));
    const occursAt = (s: Buffer, at: number, end: number): boolean => at + s.length <= end && b.subarray(at, at + s.length).equals(s);
    for (let pos = 0; pos <= length; pos++) {
      // Naive: some token starting before pos reaches past it, complete or cut off by `length`.
      let spans = false;
      for (const s of specials) {
        for (let start = Math.max(0, pos - s.length + 1); start < pos; start++) {
          const seen = Math.min(s.length, length - start);
          if (b.subarray(start, start + seen).equals(s.subarray(0, seen)) && (seen === s.length || start + seen === length)) spans = true;
        }
      }
      assert.equal(m.spans(b, length, pos), spans, `spans ${pos} of ${JSON.stringify(text)}[0, ${length}) with ${JSON.stringify([...tokens])}`);
      assert.equal(m.endsAt(b, pos), specials.some((s) => pos >= s.length && occursAt(s, pos - s.length, pos)), `endsAt ${pos}`);
      // Leftmost, then longest, match starting at or after pos and ending by `length`.
      let best = -1;
      let bestEnd = 0;
      for (let at = pos; at < length && best < 0; at++) {
        for (const s of specials) if (occursAt(s, at, length) && at + s.length > bestEnd) { best = at; bestEnd = at + s.length; }
      }
      assert.equal(m.find(b, pos, length, length), best, `find from ${pos}`);
      if (best >= 0) assert.equal(m.matchEnd, bestEnd);
    }
  }
});

function countAll(chunks: Array<{ buf: Buffer; length: number }>, specials: string[]): Map<string, number> {
  const table = new PretokenTable();
  const matcher = new SpecialMatcher(specials);
  const stats = emptyCountStats();
  for (const c of chunks) countChunk(c.buf, c.length, matcher, table, stats);
  const { bytes, lens, counts } = table.toCounts();
  const out = new Map<string, number>();
  let o = 0;
  for (let k = 0; k < lens.length; k++) {
    out.set(Buffer.from(bytes.subarray(o, o + lens[k])).toString('hex'), counts[k]);
    o += lens[k];
  }
  return out;
}

/** The units the cut stage's cutter makes for counting (as train-bpe cuts), as buffers with their lengths. */
function rechunk(data: Buffer, chunkBytes: number, specials: string[], pushSize: number): Array<{ buf: Buffer; length: number }> {
  const rc = new SafeCutter({ findCut: safeCutFinder(new SpecialMatcher(specials)), unitBytes: chunkBytes, maxHeldBytes: Number.POSITIVE_INFINITY, purpose: 'test' });
  const units = [];
  for (let i = 0; i < data.length; i += pushSize) units.push(...rc.push('t', i, data.subarray(i, i + pushSize)));
  units.push(...rc.end('t', data.length));
  return units.map((u) => ({ buf: Buffer.from(u.data.buffer, u.data.byteOffset, u.data.buffer.byteLength - u.data.byteOffset), length: u.data.length }));
}

test('rechunked text: parts concatenate to the input and counts equal whole-text counts', () => {
  // Real text: 150 KB of State of the Union addresses (npm) and the CS336
  // text fixtures (short stories with newlines, German).
  const data = Buffer.concat([
    Buffer.from(sotuText({ maxBytes: 150_000, skipAddresses: 150 })),
    ...['tinystories_sample.txt', 'german.txt', 'address.txt'].map((f) => readFileSync(fixturePath('cs336', 'fixtures', 'text', f))),
  ]);
  const whole = countAll([{ buf: data, length: data.length }], ['<|endoftext|>']);
  for (const [chunkBytes, pushSize] of [[4096, 1000], [1 << 15, 1 << 16], [999, 7]] as const) {
    const chunks = rechunk(data, chunkBytes, ['<|endoftext|>'], pushSize);
    assert.deepEqual(Buffer.concat(chunks.map((c) => c.buf.subarray(0, c.length))), data);
    assert.ok(chunks.every((c) => c.length <= chunkBytes));
    assert.deepEqual(countAll(chunks, ['<|endoftext|>']), whole);
  }
});

test('a long single-line input without special tokens is counted in bounded chunks', () => {
  const r = rng(3);
  const words = ['alpha', 'beta', 'gamma', 'delta', "it's", '42', 'x', 'éclair', '—', '...'];
  const parts: string[] = [];
  let size = 0;
  while (size < 4_000_000) {
    const w = words[Math.floor(r() * words.length)] + (r() < 0.1 ? '  ' : ' ');
    parts.push(w);
    size += Buffer.byteLength(w);
  }
  const data = Buffer.from(parts.join(''));
  const chunkBytes = 64 << 10;
  const chunks = rechunk(data, chunkBytes, [], 1 << 20);
  assert.ok(chunks.length >= data.length / chunkBytes);
  assert.ok(Math.max(...chunks.map((c) => c.length)) <= chunkBytes, 'a unit grew past the unit size');
  assert.ok(Math.max(...chunks.map((c) => c.buf.length)) <= (1 << 20) + 8, 'a unit buffer grew past the pushed piece');
  assert.deepEqual(countAll(chunks, []), countAll([{ buf: data, length: data.length }], []));
});

test('text with no safe cut grows one chunk instead of cutting wrongly', () => {
  const data = Buffer.from('a'.repeat(50_000) + ' b');
  const chunks = rechunk(data, 4096, [], 4096);
  assert.equal(chunks.length, 1);
  assert.deepEqual(countAll(chunks, []), new Map([[Buffer.from('a'.repeat(50_000)).toString('hex'), 1], [Buffer.from(' b').toString('hex'), 1]]));
});

test('text without ASCII whitespace is cut by the scanning rule', () => {
  const text = '中文字。日本語、テキスト\u3000한국어'.repeat(2000);
  const data = Buffer.from(text);
  const chunks = rechunk(data, 8192, [], 8192);
  assert.ok(chunks.length > 1);
  assert.deepEqual(countAll(chunks, []), countAll([{ buf: data, length: data.length }], []));
});

// --- Cuts in a buffer that more bytes will follow -------------------------
//
// A chunk buffer holds only the start of the stream: a cut is safe only if it
// is safe whatever comes next (the rest of a cut-off character or special
// token, a word that goes on, ...). Each cut is checked against several texts
// that begin with the buffer's bytes.

/** Special tokens with shorter ones inside longer ones (a complete inner token can sit inside a cut-off outer one). */
const NESTED = ['<|endoftext|>', '<|endoftext|><|endoftext|>', 'end', '|', '<s>', 'a<s>b'];
const NESTED_PIECES = ['a', 'b', 'end', '|', '<|', '<|e', 'ndoftext|>', 'a<s', '<s>', 's>b', '中', '🙃', "'", 'll', ' ', '\n'];

/** Texts that begin with whole[0, n): the real rest, and other endings after the character cut at n. */
function continuations(whole: Buffer, n: number, specials: readonly string[], r: () => number): Buffer[] {
  let charEnd = n;
  while (charEnd < whole.length && (whole[charEnd] & 0xc0) === 0x80) charEnd++;
  const out = [whole];
  const head = whole.subarray(0, charEnd);
  for (const extra of ['', ' ', 'x', 'll', '中', '🙃', ...specials]) out.push(Buffer.concat([head, Buffer.from(extra + randomText(r, 2))]));
  // Every special token the buffer's end could be the start of, completed.
  for (const s of specials.map((t) => Buffer.from(t))) {
    for (let l = 1; l < s.length && l <= n; l++) {
      if (whole.subarray(n - l, n).equals(s.subarray(0, l))) out.push(Buffer.concat([whole.subarray(0, n), s.subarray(l), Buffer.from('x')]));
    }
  }
  return out;
}

/** The cut `findChunkCut` finds in buf[0, n). */
function chunkCut(buf: Buffer, n: number, specials: readonly string[]): number {
  return findChunkCut(buf, n, new SpecialMatcher(specials)).at;
}

/** Asserts that cutting at `cut` leaves the pretokens of every text in `texts` unchanged. */
function assertCutSafe(cut: number, texts: readonly Buffer[], specials: readonly string[], what: string): void {
  for (const t of texts) {
    const a = t.subarray(0, cut).toString();
    const b = t.subarray(cut).toString();
    const text = t.toString();
    assert.equal(a + b, text, `${what}: cut ${cut} splits a character of ${JSON.stringify(text)}`);
    assert.deepEqual([...oracle(a, specials), ...oracle(b, specials)], oracle(text, specials), `${what}: cut ${cut} of ${JSON.stringify(text)}`);
  }
}

test('a cut never depends on the bytes after the buffer (cut-off characters, special tokens, words)', () => {
  const r = rng(11);
  for (const [specials, pieces] of [[SPECIALS, PIECES], [NESTED, NESTED_PIECES]] as const) {
    let checked = 0;
    for (let k = 0; k < 4000; k++) {
      let text = '';
      for (let i = 1 + Math.floor(r() * 14); i > 0; i--) text += pieces[Math.floor(r() * pieces.length)];
      const bytes = Buffer.from(text);
      const n = 1 + Math.floor(r() * bytes.length);
      const cut = chunkCut(bytes, n, specials);
      if (cut <= 0) continue;
      assert.ok(cut < n, `cut ${cut} outside the buffer of ${n} bytes`);
      assertCutSafe(cut, continuations(bytes, n, specials, r), specials, `buffer ${JSON.stringify(bytes.subarray(0, n).toString('latin1'))}`);
      checked++;
    }
    assert.ok(checked > 1000, `only ${checked} cuts checked`);
  }
});

test('no cut inside a special token that is still incomplete at the buffer end', () => {
  // "x<|e" may become "x<|endoftext|>"; the complete "|" inside must not be taken for a cut.
  const specials = ['<|endoftext|>', '|', 'end'];
  for (const [buffer, completed] of [['x<|e', 'x<|endoftext|>'], ['x<|endo', 'x<|endoftext|>y'], ['<|end', '<|endoftext|>']]) {
    const buf = Buffer.from(buffer);
    const cut = chunkCut(buf, buf.length, specials);
    if (cut > 0) assertCutSafe(cut, [Buffer.from(completed)], specials, buffer);
  }
});

test('no cut splits a multi-byte character or a word cut off at the buffer end', () => {
  for (const text of ['中文字。日本語', 'naïveté', '🙃🙃🙃x', "it'll", '日本語のテキスト']) {
    const bytes = Buffer.from(text);
    for (let n = 1; n <= bytes.length; n++) {
      const cut = chunkCut(bytes, n, []);
      if (cut > 0) assertCutSafe(cut, continuations(bytes, n, [], rng(n)), [], `${text} [0, ${n})`);
    }
  }
});

/** Pretoken counts of `text` by the oracle (regex), as utf-8 strings. */
function oracleCounts(text: string, specials: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of oracle(text, specials)) if (!p.startsWith('<special:')) out.set(p, (out.get(p) ?? 0) + 1);
  return out;
}

function utf8Keys(counts: Map<string, number>): Map<string, number> {
  return new Map([...counts].map(([k, v]) => [Buffer.from(k, 'hex').toString(), v]));
}

const SMALL_TEXT = [
  "Once upon a time<|endoftext|>there was a cat 🙃🙃. It's here; we'll see, they've gone.<|endoftext|><|endoftext|>",
  '中文字。日本語、テキスト<|endoftext|>한국어🙃x<|endof<|endoftext|>naïve café\u3000ok  \n\n  end|a<s>b a<s><s>',
  "<|endoftext|>'ll's'S 12345 \t\r\n<|endoftext|>",
].join('');

test('training counts equal the whole-text oracle for every chunk size from 1 to 64 bytes', () => {
  const data = Buffer.from(SMALL_TEXT);
  for (const specials of [['<|endoftext|>'], NESTED]) {
    const expected = oracleCounts(SMALL_TEXT, specials);
    for (let chunkBytes = 1; chunkBytes <= 64; chunkBytes++) {
      for (const pushSize of [1, 5, 64]) {
        const chunks = rechunk(data, chunkBytes, [...specials], pushSize);
        assert.deepEqual(Buffer.concat(chunks.map((c) => c.buf.subarray(0, c.length))), data);
        assert.deepEqual(utf8Keys(countAll(chunks, [...specials])), expected, `specials ${specials.length}, chunk ${chunkBytes}, push ${pushSize}`);
      }
    }
  }
});

test('trainBpe learns the same merges from a stream of tiny parts as from the whole text', async () => {
  const data = Buffer.from(SMALL_TEXT.repeat(3));
  for (const specials of [['<|endoftext|>'], NESTED]) {
    const whole = await trainBpe({ input: data, vocabSize: 256 + specials.length + 60, specialTokens: specials, workers: 0 });
    for (const [chunkBytes, part] of [[64, 1], [65, 3], [100, 7]]) {
      async function* parts(): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < data.length; i += part) yield data.subarray(i, i + part);
      }
      const streamed = await trainBpe({ input: parts(), vocabSize: 256 + specials.length + 60, specialTokens: specials, workers: 0, chunkBytes });
      assert.ok(streamed.stats.chunks > 10, `only ${streamed.stats.chunks} chunks`);
      assert.deepEqual(streamed.merges, whole.merges, `specials ${specials.length}, chunk ${chunkBytes}, part ${part}`);
    }
  }
});
