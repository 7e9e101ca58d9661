/**
 * Tokenizer files: vocab.json / merges.txt against the CS336 reference files,
 * tokenizer.json loaded by HuggingFace `tokenizers` (same ids as a naive
 * encode with our merges), GPT-2 file reading, and atomic replacement.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tokenizers from 'tokenizers';
import { trainBpe } from '../src/tokenizer/bpe-train.ts';
import {
  readGpt2Files, readTokenizerDir, writeTokenizerDir, type TokenizerData, type TokenizerTables,
} from '../src/tokenizer/tokenizer-files.ts';
import { pretokenizeRegex } from '../src/tokenizer/gpt2-pattern.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { fixturePath } from '../src/util/shared-data.ts';

const EOT = '<|endoftext|>';
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Token bytes by id and merges as byte pairs, read out of compact tables. */
function expand(t: TokenizerTables): { vocab: Map<number, Uint8Array>; merges: Array<[Uint8Array, Uint8Array]> } {
  const bytes = (id: number): Uint8Array => t.pool.subarray(t.offsets[id], t.offsets[id + 1]);
  const vocab = new Map<number, Uint8Array>();
  for (let id = 0; id + 1 < t.offsets.length; id++) vocab.set(id, bytes(id));
  const merges: Array<[Uint8Array, Uint8Array]> = [];
  for (let k = 0; k < t.merges.length; k += 3) {
    assert.equal(hex(bytes(t.merges[k + 2])), hex(bytes(t.merges[k])) + hex(bytes(t.merges[k + 1])), `merge ${k / 3}`);
    merges.push([bytes(t.merges[k]), bytes(t.merges[k + 1])]);
  }
  return { vocab, merges };
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'lmpipe-bpe-files-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A CS336 text fixture (fixtures/cs336/fixtures/text/NAME). */
const textFixture = (name: string): string => fixturePath('cs336', 'fixtures', 'text', name);

let trained: TokenizerData | null = null;
async function corpusEnTokenizer(): Promise<TokenizerData> {
  if (!trained) {
    const r = await trainBpe({ input: textFixture('corpus.en'), vocabSize: 500, specialTokens: [EOT] });
    trained = { vocab: r.vocab, merges: r.merges, specialTokens: r.specialTokens };
  }
  return trained;
}

test('vocab.json and merges.txt equal the CS336 reference files; reading them back round-trips', async (t) => {
  const data = await corpusEnTokenizer();
  const refVocab = textFixture('train-bpe-reference-vocab.json');
  const refMerges = textFixture('train-bpe-reference-merges.txt');
  const dir = join(tempDir(t), 'tok');
  const meta = await writeTokenizerDir(dir, data, { note: 'test' });
  // The reference numbers the 256 bytes in GPT-2 table order, we by byte value
  // (as CS336 compares: equal as sets of tokens and sets of ids).
  const ours = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')) as Record<string, number>;
  const ref = JSON.parse(readFileSync(refVocab, 'utf8')) as Record<string, number>;
  assert.deepEqual(new Set(Object.keys(ours)), new Set(Object.keys(ref)));
  assert.deepEqual(new Set(Object.values(ours)), new Set(Object.values(ref)));
  for (const [tok, id] of Object.entries(ref)) if (id >= 257) assert.equal(ours[tok], id, tok);
  const lines = (p: string): string[] => readFileSync(p, 'utf8').split('\n').filter((l) => l.length > 0);
  assert.deepEqual(lines(join(dir, 'merges.txt')), lines(refMerges));
  assert.deepEqual(meta.specialTokens, [{ token: EOT, id: 0 }]);
  assert.equal(meta.vocabSize, 500);
  assert.match(meta.tokenizerHash, /^sha256:[0-9a-f]{64}$/);

  const dirRead = readTokenizerDir(dir);
  assert.deepEqual(dirRead.specialTokens, [{ token: EOT, id: 0 }]);
  const back = expand(dirRead.tables);
  assert.deepEqual([...back.vocab].map(([i, b]) => [i, hex(b)]).sort((x, y) => Number(x[0]) - Number(y[0])), [...data.vocab].map(([i, b]) => [i, hex(b)]));
  assert.deepEqual(back.merges.map(([a, b]) => hex(a) + ' ' + hex(b)), data.merges.map(([a, b]) => hex(a) + ' ' + hex(b)));
});

test('duplicate byte strings in the vocab survive the round trip (aliases)', async (t) => {
  const dir = join(tempDir(t), 'tok');
  const a = Uint8Array.of(0x61);
  const vocab = new Map<number, Uint8Array>([[0, Buffer.from('<s>')]]);
  for (let b = 0; b < 256; b++) vocab.set(1 + b, Uint8Array.of(b));
  vocab.set(257, Uint8Array.of(0x61, 0x62));
  vocab.set(258, Uint8Array.of(0x61, 0x62, 0x63));
  vocab.set(259, Uint8Array.of(0x62, 0x63));
  vocab.set(260, Uint8Array.of(0x61, 0x62, 0x63)); // "a"+"bc" after "ab"+"c"
  const merges: Array<[Uint8Array, Uint8Array]> = [
    [a, Uint8Array.of(0x62)], [Uint8Array.of(0x61, 0x62), Uint8Array.of(0x63)],
    [Uint8Array.of(0x62), Uint8Array.of(0x63)], [a, Uint8Array.of(0x62, 0x63)],
  ];
  const meta = await writeTokenizerDir(dir, { vocab, merges, specialTokens: ['<s>'] });
  assert.deepEqual(meta.aliases, { 260: 258 });
  const back = expand(readTokenizerDir(dir).tables);
  assert.equal(back.vocab.size, vocab.size);
  assert.equal(hex(back.vocab.get(260) as Uint8Array), '616263');
});

/** Naive BPE encode with our merges: regex pretokens, lowest-rank pair first. */
function naiveEncode(text: string, data: TokenizerData): number[] {
  const rank = new Map<string, number>();
  data.merges.forEach(([a, b], i) => rank.set(`${hex(a)}|${hex(b)}`, i));
  const idOf = new Map<string, number>();
  for (const [id, b] of data.vocab) if (!idOf.has(hex(b))) idOf.set(hex(b), id);
  const ids: number[] = [];
  const pieces = text.split(EOT);
  pieces.forEach((piece, k) => {
    if (k > 0) ids.push(idOf.get(hex(Buffer.from(EOT))) as number);
    for (const tok of pretokenizeRegex(piece)) {
      let parts = [...Buffer.from(tok)].map((b) => Uint8Array.of(b));
      for (;;) {
        let best = -1;
        let at = -1;
        for (let i = 0; i + 1 < parts.length; i++) {
          const r = rank.get(`${hex(parts[i])}|${hex(parts[i + 1])}`);
          if (r !== undefined && (best < 0 || r < best)) { best = r; at = i; }
        }
        if (at < 0) break;
        parts = [...parts.slice(0, at), Buffer.concat([parts[at], parts[at + 1]]), ...parts.slice(at + 2)];
      }
      for (const p of parts) ids.push(idOf.get(hex(p)) as number);
    }
  });
  return ids;
}

test('tokenizer.json loads in HuggingFace tokenizers and encodes like our merges', async (t) => {
  const data = await corpusEnTokenizer();
  const dir = join(tempDir(t), 'tok');
  await writeTokenizerDir(dir, data);
  const hf = tokenizers.Tokenizer.fromFile(join(dir, 'tokenizer.json'));
  const sentences = [
    'The quick brown fox jumps over the lazy dog.',
    'It was the best of times, it was the worst of times; and they\'re here.',
    `First document.${EOT}Second one, with numbers 1984 and 2024!`,
    'Multiple   spaces\nand new lines\n\nend',
  ];
  for (const s of sentences) {
    const enc = await hf.encode(s);
    assert.deepEqual(enc.getIds(), naiveEncode(s, data), s);
  }
  assert.equal(hf.getVocabSize(true), 500);
});

test('GPT-2 vocab.json + merges.txt: read, and malformed merges are reported with their line', async (t) => {
  const vocabPath = textFixture('gpt2_vocab.json');
  const mergesPath = textFixture('gpt2_merges.txt');
  const { vocab, merges } = expand(readGpt2Files(vocabPath, mergesPath));
  assert.equal(vocab.size, 50257);
  assert.equal(merges.length, 50000);
  assert.equal(Buffer.from(vocab.get(50256) as Uint8Array).toString(), EOT);
  assert.deepEqual([hex(merges[0][0]), hex(merges[0][1])], ['20', '74']); // "Ġ t"
  const dir = tempDir(t);
  const bad = join(dir, 'merges.txt');
  writeFileSync(bad, '#version: 0.2\nĠ t\nĠ a b\nh e\n');
  assert.throws(() => readGpt2Files(vocabPath, bad), (e) => e instanceof UserError && /merges\.txt:3: malformed merge line "Ġ a b"/.test(e.message));
  writeFileSync(bad, 'Ġ t\nĠ\u4e00\n');
  assert.throws(() => readGpt2Files(vocabPath, bad), (e) => e instanceof UserError && /merges\.txt:2:/.test(e.message));
  // One space exactly, two non-empty tokens: a leading, trailing or double space is malformed.
  for (const line of [' t', 'Ġ ', 'Ġ  t']) {
    writeFileSync(bad, `Ġ t\n${line}\n`);
    assert.throws(() => readGpt2Files(vocabPath, bad), (e) => e instanceof UserError && /merges\.txt:2: malformed merge line/.test(e.message), JSON.stringify(line));
  }
  // A token, or the merged token, missing from the vocabulary is named.
  writeFileSync(bad, 'Ġ t\nĠ \u4e00\n');
  assert.throws(() => readGpt2Files(vocabPath, bad), (e) => e instanceof UserError && /merges\.txt:2: token "\u4e00" of merge/.test(e.message));
  writeFileSync(bad, 'Ġ t\nq z\n');
  assert.throws(() => readGpt2Files(vocabPath, bad), (e) => e instanceof UserError && /merges\.txt:2: token "qz" of merge "q z" is not in vocab\.json/.test(e.message));
});

test('writing replaces an existing tokenizer only on success and leaves no temporaries', async (t) => {
  const data = await corpusEnTokenizer();
  const parent = tempDir(t);
  const dir = join(parent, 'tok');
  await writeTokenizerDir(dir, data, { run: 1 });
  const before = readFileSync(join(dir, 'lmpipe.json'), 'utf8');
  // Stats that cannot be serialized make the write fail half-way.
  await assert.rejects(writeTokenizerDir(dir, data, { run: 2n }));
  assert.equal(readFileSync(join(dir, 'lmpipe.json'), 'utf8'), before);
  assert.deepEqual(readdirSync(parent), ['tok']);
  await writeTokenizerDir(dir, data, { run: 3 });
  assert.match(readFileSync(join(dir, 'lmpipe.json'), 'utf8'), /"run": 3/);
  assert.deepEqual(readdirSync(parent), ['tok']);
  // An edited vocab no longer matches the content hash.
  writeFileSync(join(dir, 'merges.txt'), readFileSync(join(dir, 'merges.txt'), 'utf8').replace('Ġ t\n', 'Ġ a\n'));
  assert.throws(() => readTokenizerDir(dir), (e) => e instanceof UserError && /content hash/.test(e.message));
});
