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
  SafeRechunker, SpecialTokenMatcher, findChunkCut, findScannedCut, findSpecialCut, findTextCut,
} from '../src/tokenizer/chunking.ts';
import { PretokenTable, countChunk, emptyCountStats } from '../src/tokenizer/pretoken-count.ts';
import { pretokenizeRegex } from '../src/tokenizer/gpt2-pattern.ts';
import { sharedFileOrSkip } from '../src/util/shared-data.ts';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
  const specialBytes = SPECIALS.map((s) => Buffer.from(s));
  let checked = 0;
  for (let k = 0; k < 3000; k++) {
    const text = randomText(r, 4 + Math.floor(r() * 40));
    const bytes = Buffer.from(text);
    const whole = oracle(text, SPECIALS);
    // The cut finder only sees a prefix, as a chunk buffer would.
    const n = 1 + Math.floor(r() * bytes.length);
    const cuts = [
      findChunkCut(bytes, n, specialBytes).at,
      findTextCut(bytes, n, specialBytes),
      findSpecialCut(bytes, n, specialBytes),
      findScannedCut(bytes, n, specialBytes),
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
  const m = new SpecialTokenMatcher(['<|endoftext|>', '<|endoftext|><|endoftext|>']);
  const buf = Buffer.from('a<|endoftext|><|endoftext|>b<|endoftext|>');
  const found: string[] = [];
  let pos = 0;
  for (;;) {
    const at = m.next(buf, pos, buf.length);
    if (at < 0) break;
    found.push(`${at}+${m.matchLength}`);
    pos = at + m.matchLength;
  }
  assert.deepEqual(found, ['1+26', '28+13']);
});

function countAll(chunks: Array<{ buf: Buffer; length: number }>, specials: string[]): Map<string, number> {
  const table = new PretokenTable();
  const matcher = new SpecialTokenMatcher(specials);
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

function rechunk(data: Buffer, chunkBytes: number, specials: string[], pushSize: number): Array<{ buf: Buffer; length: number }> {
  const rc = new SafeRechunker(chunkBytes, specials);
  const chunks = [];
  for (let i = 0; i < data.length; i += pushSize) chunks.push(...rc.push(data.subarray(i, i + pushSize)));
  chunks.push(...rc.end());
  return chunks;
}

test('rechunked text: parts concatenate to the input and counts equal whole-text counts', (t) => {
  const path = sharedFileOrSkip('conformance', 'cs336', 'corpora', 'owt_valid_sample.txt');
  if (!path) { t.skip('shared corpus missing'); return; }
  const data = readFileSync(path);
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
  assert.ok(Math.max(...chunks.map((c) => c.buf.length)) <= chunkBytes + 8, 'a chunk buffer grew past the chunk size');
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
