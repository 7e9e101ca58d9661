/**
 * Loading tokenizers (GPT-2 files, train-bpe directories, in-memory tables),
 * merge semantics against a naive CS336-style reference, and bad input.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { UserError } from '../src/pipeline/errors.ts';
import { bytesToUnicode, unicodeToBytes } from '../src/tokenizer/byte-unicode.ts';
import { pretokenizeRegex } from '../src/tokenizer/gpt2-pattern.ts';
import { writeTokenizerDir } from '../src/tokenizer/tokenizer-files.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { fixturePath } from '../src/util/shared-data.ts';

const tmp = mkdtempSync(join(tmpdir(), 'lmpipe-tok-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const latin1 = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

/** Leftmost-longest split on special tokens, written naively. */
function splitOnSpecials(text: string, specials: readonly string[]): Array<{ text: string; special: boolean }> {
  const out: Array<{ text: string; special: boolean }> = [];
  let piece = '';
  for (let i = 0; i < text.length;) {
    let best = '';
    for (const s of specials) if (s.length > best.length && text.startsWith(s, i)) best = s;
    if (best === '') {
      piece += text[i++];
      continue;
    }
    if (piece !== '') out.push({ text: piece, special: false });
    out.push({ text: best, special: true });
    piece = '';
    i += best.length;
  }
  if (piece !== '') out.push({ text: piece, special: false });
  return out;
}

/**
 * The CS336 reference algorithm, written naively and independently of the
 * encoder: split on specials (longest first), pretokenize with the regex,
 * then per pretoken merge the lowest-rank pair everywhere, until none is left.
 */
function naiveEncode(
  text: string,
  vocab: Map<number, Uint8Array>,
  merges: Array<[Uint8Array, Uint8Array]>,
  specials: string[],
): number[] {
  const idOf = new Map<string, number>();
  for (const [id, b] of vocab) idOf.set(latin1(b), id);
  for (const s of specials) if (!idOf.has(latin1(Buffer.from(s)))) idOf.set(latin1(Buffer.from(s)), Math.max(...vocab.keys(), ...idOf.values()) + 1);
  const rank = new Map<string, number>();
  merges.forEach(([a, b], r) => {
    const k = `${latin1(a)}\u0000${latin1(b)}`;
    if (!rank.has(k)) rank.set(k, r);
  });
  const out: number[] = [];
  for (const piece of splitOnSpecials(text, specials)) {
    if (piece.special) {
      out.push(idOf.get(latin1(Buffer.from(piece.text))) as number);
      continue;
    }
    for (const pre of pretokenizeRegex(piece.text)) {
      let parts = [...Buffer.from(pre)].map((b) => String.fromCharCode(b));
      for (;;) {
        let best = Infinity;
        for (let i = 0; i + 1 < parts.length; i++) best = Math.min(best, rank.get(`${parts[i]}\u0000${parts[i + 1]}`) ?? Infinity);
        if (best === Infinity) break;
        const next: string[] = [];
        for (let i = 0; i < parts.length; i++) {
          if (i + 1 < parts.length && rank.get(`${parts[i]}\u0000${parts[i + 1]}`) === best) {
            next.push(parts[i] + parts[i + 1]);
            i++;
          } else {
            next.push(parts[i]);
          }
        }
        parts = next;
      }
      for (const p of parts) out.push(idOf.get(p) as number);
    }
  }
  return out;
}

/** Reads a GPT-2 format vocab/merges pair into plain tables (independent of the loader). */
function readPlain(vocabPath: string, mergesPath: string): { vocab: Map<number, Uint8Array>; merges: Array<[Uint8Array, Uint8Array]> } {
  const json = JSON.parse(readFileSync(vocabPath, 'utf8')) as Record<string, number>;
  const vocab = new Map<number, Uint8Array>();
  for (const [tok, id] of Object.entries(json)) vocab.set(id, unicodeToBytes(tok));
  const merges: Array<[Uint8Array, Uint8Array]> = [];
  for (const line of readFileSync(mergesPath, 'utf8').split('\n')) {
    const parts = line.trimEnd().split(' ');
    if (parts.length === 2) merges.push([unicodeToBytes(parts[0]), unicodeToBytes(parts[1])]);
  }
  return { vocab, merges };
}

const trainedVocab = fixturePath('cs336', 'fixtures', 'text', 'train-bpe-reference-vocab.json');
const trainedMerges = fixturePath('cs336', 'fixtures', 'text', 'train-bpe-reference-merges.txt');
const corpus = fixturePath('cs336', 'fixtures', 'text', 'corpus.en');
const gpt2Vocab = fixturePath('cs336', 'fixtures', 'text', 'gpt2_vocab.json');
const gpt2Merges = fixturePath('cs336', 'fixtures', 'text', 'gpt2_merges.txt');

describe('merge semantics vs a naive CS336 reference', () => {
  it('CS336 train-bpe reference tokenizer (500 ids, <|endoftext|> = 0) on corpus.en', () => {
    const { vocab, merges } = readPlain(trainedVocab, trainedMerges);
    const specials = ['<|endoftext|>'];
    const tok = Tokenizer.fromFiles(trainedVocab, trainedMerges, specials);
    assert.equal(tok.vocabSize, 500);
    assert.equal(tok.specialId('<|endoftext|>'), 0);
    const text = readFileSync(corpus, 'utf8');
    const expected = naiveEncode(text, vocab, merges, specials);
    assert.deepEqual(tok.encode(text), expected);
    assert.equal(tok.decode(expected), text);
  });

  it('a directory written by train-bpe (tokenizer-files.ts) loads with its specials, aliases and hash check', async () => {
    const { vocab, merges } = readPlain(trainedVocab, trainedMerges);
    // An alias: a second id with the bytes of an existing token (BPE can build one byte string twice).
    vocab.set(500, vocab.get(300) as Uint8Array);
    const dir = join(tmp, 'trained');
    await writeTokenizerDir(dir, { vocab, merges, specialTokens: ['<|endoftext|>'] });
    const tok = Tokenizer.fromDir(dir);
    assert.equal(tok.vocabSize, 501);
    assert.equal(tok.specialId('<|endoftext|>'), 0);
    assert.deepEqual(tok.tokenBytes(500), vocab.get(300));
    assert.equal(tok.decode([500, 0]), tok.decode([300, 0]));
    const text = readFileSync(corpus, 'utf8').slice(0, 20_000);
    vocab.delete(500);
    assert.deepEqual(tok.encode(text), naiveEncode(text, vocab, merges, ['<|endoftext|>']));
    // Editing the files after training is caught by the content hash.
    writeFileSync(join(dir, 'merges.txt'), readFileSync(join(dir, 'merges.txt'), 'utf8').split('\n').slice(0, 10).join('\n'));
    assert.throws(() => Tokenizer.fromDir(dir), (e: unknown) => e instanceof UserError && /content hash/.test(e.message));
  });

  it('fromVocabMerges (in-memory tables) equals fromFiles, hash included', () => {
    const { vocab, merges } = readPlain(gpt2Vocab, gpt2Merges);
    const a = Tokenizer.fromFiles(gpt2Vocab, gpt2Merges, ['<|endoftext|>', '<pad>']);
    const b = Tokenizer.fromVocabMerges(vocab, merges, ['<|endoftext|>', '<pad>']);
    assert.equal(a.hash(), b.hash());
    assert.equal(b.vocabSize, 50258);
    assert.equal(b.specialId('<pad>'), 50257);
    const text = 'Some <pad>text<|endoftext|> with 123 numbers, and ünïcödé!';
    assert.deepEqual(b.encode(text), a.encode(text));
    assert.notEqual(a.hash(), Tokenizer.fromFiles(gpt2Vocab, gpt2Merges).hash());
  });

  it('a toy vocabulary: ranks decide, not token ids; repeated pairs merge left to right', () => {
    const vocab = new Map<number, Uint8Array>();
    for (let b = 0; b < 256; b++) vocab.set(b, Uint8Array.of(b));
    const enc = (s: string): Uint8Array => Buffer.from(s, 'latin1');
    const merges: Array<[Uint8Array, Uint8Array]> = [[enc('a'), enc('a')], [enc('b'), enc('c')], [enc('a'), enc('bc')], [enc('aa'), enc('aa')]];
    vocab.set(300, enc('aa'));
    vocab.set(257, enc('bc'));
    vocab.set(299, enc('abc'));
    vocab.set(258, enc('aaaa'));
    const tok = Tokenizer.fromVocabMerges(vocab, merges);
    for (const text of ['aaa', 'aaaa', 'aaaaa', 'abc', 'aabc', 'aaabc', 'bcaaa a aaaaaaa']) {
      assert.deepEqual(tok.encode(text), naiveEncode(text, vocab, merges, []), text);
    }
    assert.deepEqual(tok.encode('aaa'), [300, 97]);
    assert.deepEqual(tok.encode('aabc'), [300, 257]);
  });
});

describe('loading and bad input', () => {
  let dirs = 0;
  const writeTok = (vocab: Record<string, number>, merges: string, meta?: unknown): string => {
    const d = join(tmp, `t${dirs++}`);
    mkdirSync(d);
    writeFileSync(join(d, 'vocab.json'), JSON.stringify(vocab));
    writeFileSync(join(d, 'merges.txt'), merges);
    if (meta !== undefined) writeFileSync(join(d, 'lmpipe.json'), JSON.stringify(meta));
    return d;
  };
  const byteVocab = (): Record<string, number> => {
    const v: Record<string, number> = {};
    for (let b = 0; b < 256; b++) v[bytesToUnicode(Uint8Array.of(b))] = b;
    return v;
  };

  it('a train-bpe directory with special tokens in lmpipe.json', () => {
    const v = byteVocab();
    v['he'] = 256;
    v['ll'] = 257;
    v['hell'] = 258;
    const d = writeTok(v, '#version: 0.2\nh e\nl l\nhe ll\n\n', { specialTokens: ['<|endoftext|>'] });
    const tok = Tokenizer.fromDir(d);
    assert.equal(tok.vocabSize, 260);
    assert.equal(tok.specialId('<|endoftext|>'), 259);
    assert.deepEqual(tok.encode('hello<|endoftext|>'), [258, 111, 259]);
    assert.deepEqual(Tokenizer.fromDir(d, ['<pad>']).specialTokens.map((s) => s.id), [259, 260]);
  });

  it('missing files and directories are UserErrors naming the path', () => {
    assert.throws(() => Tokenizer.fromDir(join(tmp, 'nope')), (e: unknown) => e instanceof UserError && /nope/.test(e.message));
    assert.throws(() => Tokenizer.fromFiles(join(tmp, 'missing-vocab.json'), join(tmp, 'm.txt')),
      (e: unknown) => e instanceof UserError && /missing-vocab\.json not found/.test(e.message));
    const d = writeTok(byteVocab(), '');
    rmSync(join(d, 'merges.txt'));
    assert.throws(() => Tokenizer.fromDir(d), (e: unknown) => e instanceof UserError && /merges\.txt not found/.test(e.message));
  });

  it('a malformed merges line is reported with its line number', () => {
    const v = byteVocab();
    v['he'] = 256;
    const d = writeTok(v, 'h e\n\nthis line has three\n');
    assert.throws(() => Tokenizer.fromDir(d), (e: unknown) => e instanceof UserError && /merges\.txt:3: malformed merge line "this line has three"/.test(e.message));
    const d2 = writeTok(v, 'h e\nx\n');
    assert.throws(() => Tokenizer.fromDir(d2), (e: unknown) => e instanceof UserError && /merges\.txt:2: malformed/.test(e.message));
  });

  it('a merge naming a token outside the vocabulary is reported with its line number', () => {
    const v = byteVocab();
    v['he'] = 256;
    const d = writeTok(v, 'h e\nhe l\n');
    assert.throws(() => Tokenizer.fromDir(d), (e: unknown) => e instanceof UserError && /merges\.txt:2: token "hel"/.test(e.message));
  });

  it('a broken vocab.json is a UserError', () => {
    const d = writeTok(byteVocab(), '');
    writeFileSync(join(d, 'vocab.json'), '{"a": 1,');
    assert.throws(() => Tokenizer.fromDir(d), (e: unknown) => e instanceof UserError && /vocab\.json is not valid JSON/.test(e.message));
    writeFileSync(join(d, 'vocab.json'), '{"a": 1.5}');
    assert.throws(() => Tokenizer.fromDir(d), (e: unknown) => e instanceof UserError && /non-negative integers/.test(e.message));
    writeFileSync(join(d, 'vocab.json'), '{"a b": 1}');
    assert.throws(() => Tokenizer.fromDir(d), (e: unknown) => e instanceof UserError && /not in the GPT-2 byte table/.test(e.message));
  });

  it('decode: an id out of range names the id and the vocabulary size', () => {
    const d = writeTok(byteVocab(), '');
    const tok = Tokenizer.fromDir(d);
    assert.throws(() => tok.decode([104, 256]), /token id 256 at position 1 is out of range: the vocabulary has 256 ids/);
    assert.throws(() => tok.decode([-1]), /token id -1 at position 0 is out of range/);
    assert.throws(() => tok.decode([1.5]), /token id 1.5/);
    assert.throws(() => tok.tokenBytes(999), /token id 999 is out of range/);
    assert.equal(tok.decode([104, 105]), 'hi');
  });

  it('a vocabulary lacking single-byte tokens is refused at load, naming a missing byte', () => {
    const v: Record<string, number> = { a: 0, b: 1 };
    const d = writeTok(v, '');
    assert.throws(() => Tokenizer.fromDir(d), (e: unknown) => e instanceof UserError && /vocab\.json: no token for byte 0x00 \("Ā"\) and 253 more byte\(s\)/.test(e.message));
  });
});
