/**
 * The byte scanner must split exactly like the GPT-2 regex (the spec):
 * property tests over generated strings, invalid UTF-8 against TextDecoder,
 * and real text: the CS336 text fixtures and the State of the Union addresses
 * (npm) on every checkout, the shared corpora as extras when ../shared exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { pretokenizeBytes, scanPretokens, type ScanCounters } from '../src/tokenizer/pretokenizer.ts';
import { pretokenizeRegex } from '../src/tokenizer/gpt2-pattern.ts';
import { fixturePath, sharedFileOrSkip } from '../src/util/shared-data.ts';
import { sotuText } from './helpers/sotu.ts';
import { rng } from './tokenizer-helpers.ts';

const PIECES = [
  'a', 'Z', 'hello', 'World', 'é', 'ß', 'Ω', 'жизнь', '中文', 'العربية', 'हिन्दी', 'ｶﾀｶﾅ', 'ǅ',
  '0', '42', '٣', 'Ⅻ', '½', '²', '१२',
  '.', ',', '!?', '...', '—', '"', '(', ')', '<|', '|>', '$', '€', '@#',
  "'", "'s", "'S", "'t", "'T", "'ll", "'LL", "'ve", "'re", "'Re", "'d", "'m", "'x", "''", "'l",
  ' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', '\r', '\v', '\f', '\u00a0', '\u2028', '\u2029',
  '\u3000', '\ufeff', '\u1680', '\u2000', '\u202f', '\u205f', '\u0085', '\u200b', '\u180e',
  '\u001c', '\u001f', '\u0000', '\u007f',
  '\u0301', 'e\u0301', '\u0903', '\u20dd',
  '🙃', '👍🏽', '👨‍👩‍👧', '🇫🇷', '\u{1d400}', '\u{10400}', '\u{1f600}\u{1f600}',
  '\ud800', '\udc00', '\udbff', '\ufffd',
];

function randomString(r: () => number, maxParts: number): string {
  const n = 1 + Math.floor(r() * maxParts);
  let s = '';
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(r() * PIECES.length)];
  return s;
}

// ignoreBOM: keep a leading U+FEFF as text (the default decoder would drop it).
const dec = new TextDecoder('utf-8', { ignoreBOM: true });

/** Scanner output for a string, decoded back, next to the regex's (lone surrogates as U+FFFD). */
function bothWays(s: string): { scan: string[]; regex: string[] } {
  const scan = pretokenizeBytes(Buffer.from(s, 'utf8')).map((t) => dec.decode(t));
  const regex = pretokenizeRegex(s).map((t) => t.toWellFormed());
  return { scan, regex };
}

test('scanner equals the GPT-2 regex on 20,000 generated strings', () => {
  const r = rng(1234);
  for (let k = 0; k < 20000; k++) {
    const s = randomString(r, k < 10000 ? 6 : 30);
    const { scan, regex } = bothWays(s);
    assert.deepEqual(scan, regex, `input ${JSON.stringify(s)}`);
  }
});

test('scanner equals the regex on hand-picked edge cases', () => {
  const cases = [
    '', ' ', '  ', 'a ', 'a  ', ' a', '  a', '\n a', ' \n', 'a \n b', "I'M HERE'S it's", "can't've",
    "'s'S's", " 's", "x 'll", '\u00a0a', ' \u00a0a', '\t\ta', 'a\t\t', '1 2  3   4', '🙃 🙃', '   🙃',
    'end.\n\n', 'end.\n\nStart', '\ufeffHello', '\u2028x', 'tab\there', 'x\u0301y', '€5 5€', 'ａｂｃ１２３',
  ];
  for (const s of cases) {
    const { scan, regex } = bothWays(s);
    assert.deepEqual(scan, regex, `input ${JSON.stringify(s)}`);
  }
});

test('every code point is classified like the regex (one per token)', () => {
  // For a code point c, the regex splits "a" + c + "1 " in a way that
  // reveals its class; compare on all planes in a sampled sweep.
  for (let cp = 0; cp <= 0x10ffff; cp += cp < 0x3400 ? 1 : 37) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const c = String.fromCodePoint(cp);
    const s = `a${c}1 ${c}${c} x${c}`;
    const { scan, regex } = bothWays(s);
    assert.deepEqual(scan, regex, `code point U+${cp.toString(16)}`);
  }
});

test('the pattern reads \\s as Python regex (CS336) and Rust do: Unicode White_Space, not JavaScript \\s', () => {
  // Unicode White_Space (PropList.txt), the code points `\s` matches in Python's `regex` and in Rust.
  const whiteSpace = [0x9, 0xa, 0xb, 0xc, 0xd, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
    0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000];
  const found: number[] = [];
  for (let cp = 0; cp < 0x110000; cp++) {
    if (cp >= 0xd800 && cp < 0xe000) continue;
    // Between "x" and "y", two whitespace characters are two pretokens ("\s+(?!\S)" gives one back, then "\s+");
    // two spaces give " " and " y". Any other character pair stays together or joins a neighbour.
    const c = String.fromCodePoint(cp);
    const parts = pretokenizeRegex(`x${c}${c}y`);
    if (cp === 0x20 ? parts.join('|') === 'x| | y' : parts.length === 4 && parts[1] === c && parts[2] === c) found.push(cp);
  }
  assert.deepEqual(found, whiteSpace);
  // Python: regex.findall(PAT, '\n\n\n\ufeff\n[ a\u0085b  c'), PAT as in CS336.
  assert.deepEqual(pretokenizeRegex('\n\n\n\ufeff\n[ a\u0085b  c'), ['\n\n', '\n', '\ufeff', '\n', '[', ' a', '\u0085', 'b', ' ', ' c']);
  assert.deepEqual(bothWays('\n\n\n\ufeff\n[ a\u0085b  c').scan, pretokenizeRegex('\n\n\n\ufeff\n[ a\u0085b  c'));
});

test('invalid UTF-8: split equals the regex over TextDecoder output, bytes are kept, subparts counted', () => {
  const r = rng(99);
  // No 0xbd byte, so the input never holds a real U+FFFD (ef bf bd).
  const pool = [
    0x61, 0x62, 0x20, 0x20, 0x0a, 0x27, 0x73, 0x31, 0x2e, 0x80, 0xbf, 0xc0, 0xc2, 0xc3, 0xa9, 0xe0, 0xa0,
    0xe2, 0x82, 0xac, 0xed, 0x9f, 0xa0, 0xf0, 0x90, 0x9f, 0x99, 0x83, 0xf4, 0x8f, 0x90, 0xf5, 0xff, 0xfe,
  ];
  for (let k = 0; k < 20000; k++) {
    const n = 1 + Math.floor(r() * 24);
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = pool[Math.floor(r() * pool.length)];
    const counters: ScanCounters = { invalid: 0 };
    const toks = pretokenizeBytes(bytes, counters);
    assert.deepEqual(Buffer.concat(toks), Buffer.from(bytes));
    const text = dec.decode(bytes);
    assert.deepEqual(toks.map((t) => dec.decode(t)), pretokenizeRegex(text), `bytes ${Buffer.from(bytes).toString('hex')}`);
    const replacements = [...text].filter((c) => c === '\ufffd').length;
    assert.equal(counters.invalid, replacements, `bytes ${Buffer.from(bytes).toString('hex')}`);
  }
});

test('scanPretokens resumes exactly when its output array fills up', () => {
  const s = Buffer.from("It's 12 o'clock   now,\n\n  isn't it? 🙃🙃 done  ");
  const whole = pretokenizeBytes(s).map((t) => t.length);
  const ends = new Int32Array(3);
  const lens: number[] = [];
  let pos = 0;
  const counters = { invalid: 0 };
  while (pos < s.length) {
    const n = scanPretokens(s, pos, s.length, ends, counters);
    for (let i = 0; i < n; i++) { lens.push(ends[i] - pos); pos = ends[i]; }
  }
  assert.deepEqual(lens, whole);
});

const textFixture = (name: string) => (): Buffer => readFileSync(fixturePath('cs336', 'fixtures', 'text', name));
/** Extras: read from ../shared when it exists (otherwise the test is left out). */
const sharedText = (...parts: string[]): (() => Buffer) | null => {
  const path = sharedFileOrSkip(...parts);
  return path ? () => readFileSync(path) : null;
};

for (const [name, read] of [
  ['corpus.en', textFixture('corpus.en')],
  ['tinystories_sample.txt, address.txt and german.txt', () => Buffer.concat(['tinystories_sample.txt', 'address.txt', 'german.txt'].map((f) => textFixture(f)()))],
  ['the State of the Union addresses (first 3 MB)', () => Buffer.from(sotuText({ maxBytes: 3_000_000 }))],
  ['tinystories.txt (shared)', sharedText('corpora', 'tinystories.txt')],
  ['owt_valid_sample.txt (shared)', sharedText('conformance', 'cs336', 'corpora', 'owt_valid_sample.txt')],
  ['books.txt (shared, first 3 MB)', sharedText('corpora', 'books.txt')],
] as const) {
  if (!read) continue;
  test(`scanner equals the regex on ${name}`, () => {
    let buf = read();
    if (buf.length > 3_000_000) {
      let cut = 3_000_000;
      while ((buf[cut] & 0xc0) === 0x80) cut++;
      buf = buf.subarray(0, cut);
    }
    const text = buf.toString('utf8');
    const regex = pretokenizeRegex(text);
    const scan = pretokenizeBytes(buf);
    assert.equal(scan.length, regex.length);
    for (let i = 0; i < regex.length; i++) {
      if (dec.decode(scan[i]) !== regex[i]) assert.fail(`token ${i}: ${JSON.stringify(dec.decode(scan[i]))} != ${JSON.stringify(regex[i])}`);
    }
  });
}

test('the stored character-class runs for this Unicode version equal a fresh scan with this engine\'s regexes', async () => {
  const { computeClassRanges, storedClassRanges } = await import('../src/tokenizer/unicode-classes.ts');
  const stored = storedClassRanges();
  if (stored === null) {
    // Not a failure: classRanges() scans instead (slower start-up); scripts/unicode-class-runs.ts stores this version.
    process.stderr.write(`note: src/tokenizer/unicode-class-runs.json has no runs for Unicode ${process.versions.unicode}; run npx tsx scripts/unicode-class-runs.ts\n`);
    return;
  }
  assert.deepEqual(Array.from(stored), Array.from(computeClassRanges()));
  // A wrong version key or damaged data reads as "none stored", never as other runs.
  assert.equal(storedClassRanges('0.0'), null);
});
