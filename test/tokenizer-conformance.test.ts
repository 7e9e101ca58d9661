/**
 * CS336 test_tokenizer.py (MANIFEST §2): every case, with the expected ids
 * of tiktoken_gpt2_reference.json (produced by tiktoken / js-tiktoken).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { fixturePath } from '../src/util/shared-data.ts';

interface RefCase {
  tests: string[];
  input: { text?: string; file?: string };
  special_tokens_for_own_tokenizer: string[];
  expected_ids: number[];
  /** Absent for the derived overlapping-special-tokens case. */
  expected_token_bytes_hex?: string[];
}

const refPath = fixturePath('cs336', 'tokenizer', 'tiktoken_gpt2_reference.json');
const vocabPath = fixturePath('cs336', 'fixtures', 'text', 'gpt2_vocab.json');
const mergesPath = fixturePath('cs336', 'fixtures', 'text', 'gpt2_merges.txt');

function load(specials: string[]): Tokenizer {
  return Tokenizer.fromFiles(vocabPath, mergesPath, specials);
}

function caseText(c: RefCase): string {
  return c.input.text ?? readFileSync(fixturePath('cs336', c.input.file as string), 'utf8');
}

/** Python-style file iteration: every line keeps its '\n'. */
function* lines(text: string): Generator<string> {
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) break;
    yield text.slice(start, nl + 1);
    start = nl + 1;
  }
  if (start < text.length) yield text.slice(start);
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('CS336 tokenizer conformance (GPT-2 vocab/merges)', () => {
  const cases: RefCase[] = JSON.parse(readFileSync(refPath, 'utf8')).cases;
  const byTest = (name: string): RefCase => {
    const c = cases.find((k) => k.tests.includes(name));
    assert.ok(c, `reference case ${name} missing`);
    return c;
  };

  it('loads the GPT-2 files as CS336 does (50,000 merges, <|endoftext|> = 50256)', () => {
    const tok = load(['<|endoftext|>']);
    assert.equal(tok.mergeCount, 50000);
    assert.equal(tok.vocabSize, 50257);
    assert.equal(tok.specialId('<|endoftext|>'), 50256);
  });

  it('every reference case: ids, per-token bytes and roundtrip', () => {
    assert.ok(cases.length >= 12);
    for (const c of cases) {
      const tok = load(c.special_tokens_for_own_tokenizer);
      const text = caseText(c);
      const ids = tok.encode(text);
      assert.deepEqual(ids, c.expected_ids, c.tests.join(','));
      if (c.expected_token_bytes_hex) {
        assert.deepEqual(ids.map((id) => hex(tok.tokenBytes(id))), c.expected_token_bytes_hex, c.tests.join(','));
      }
      assert.equal(tok.decode(ids), text, c.tests.join(','));
    }
  });

  it('empty and single-character inputs', () => {
    const tok = load([]);
    assert.deepEqual(tok.encode(''), []);
    assert.equal(tok.decode([]), '');
    assert.deepEqual(tok.encode('s'), [82]);
    assert.deepEqual(tok.encode('🙃'), [8582, 247, 225]);
    // The pieces of 🙃 are not valid UTF-8 on their own: each decodes to U+FFFD.
    assert.deepEqual([8582, 247, 225].map((id) => tok.decode([id])), ['\uFFFD', '\uFFFD', '\uFFFD']);
  });

  it('ascii string pieces', () => {
    const tok = load(['<|endoftext|>']);
    const ids = tok.encode('Hello, how are you?');
    assert.deepEqual(ids.map((id) => tok.decode([id])), ['Hello', ',', ' how', ' are', ' you', '?']);
  });

  it('special tokens in text come out whole (three <|endoftext|> pieces)', () => {
    const c = byTest('test_roundtrip_unicode_string_with_special_tokens');
    const tok = load(['<|endoftext|>']);
    const pieces = tok.encode(caseText(c)).map((id) => tok.decode([id]));
    assert.equal(pieces.filter((p) => p === '<|endoftext|>').length, 3);
  });

  it('overlapping special tokens: the longest match wins', () => {
    const tok = load(['<|endoftext|>', '<|endoftext|><|endoftext|>']);
    const text = 'Hello, how <|endoftext|><|endoftext|> are you?<|endoftext|>';
    const ids = tok.encode(text);
    assert.deepEqual(ids, [15496, 11, 703, 220, 50257, 389, 345, 30, 50256]);
    const pieces = ids.map((id) => tok.decode([id]));
    assert.equal(pieces.filter((p) => p === '<|endoftext|>').length, 1);
    assert.equal(pieces.filter((p) => p === '<|endoftext|><|endoftext|>').length, 1);
    assert.equal(tok.decode(ids), text);
    // The order in which the specials are given does not matter.
    assert.deepEqual(load(['<|endoftext|><|endoftext|>', '<|endoftext|>']).encode(text), ids);
  });

  it('trailing newlines after a special token', () => {
    const tok = load(['<|endoftext|>']);
    assert.deepEqual(tok.encode(caseText(byTest('test_encode_special_token_trailing_newlines'))), [50256, 628]);
    assert.deepEqual(tok.encode(caseText(byTest('test_encode_special_token_double_newline_non_whitespace'))), [50256, 198, 198, 33407, 0]);
  });

  it('encodeIterable fed one line at a time equals the reference (sync and async)', async () => {
    const c = byTest('test_encode_iterable_tinystories_matches_tiktoken');
    const text = caseText(c);
    const tok = load(['<|endoftext|>']);
    assert.deepEqual([...tok.encodeIterable(lines(text))], c.expected_ids);
    const asyncLines = (async function* () { yield* lines(text); })();
    const got: number[] = [];
    for await (const id of tok.encodeIterable(asyncLines)) got.push(id);
    assert.deepEqual(got, c.expected_ids);
    // Small batches make it emit while lines are still coming in.
    assert.deepEqual([...tok.encodeIterable(lines(text), 1)], c.expected_ids);
    // Without special tokens, as the roundtrip test does.
    const plain = load([]);
    assert.equal(plain.decode([...plain.encodeIterable(lines(text), 1)]), text);
  });
});
