/**
 * BPE training against independent oracles: the CS336 reference merges and
 * vocab, a naive trainer written here (regex pretokenization, full recount
 * every merge, Python-style max), and invariance under workers/chunk sizes.
 * Corpus text: the State of the Union addresses from npm (test/helpers/sotu.ts).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainBpe, type TrainBpeResult } from '../src/tokenizer/bpe-train.ts';
import { pretokenizeRegex } from '../src/tokenizer/gpt2-pattern.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { fixturePath } from '../src/util/shared-data.ts';
import { sotuText, writeSotu } from './helpers/sotu.ts';

const EOT = '<|endoftext|>';
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const tmp = mkdtempSync(join(tmpdir(), 'lmpipe-bpe-train-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('corpus.en, vocab 500: merges equal the CS336 reference in order, vocab equal as sets', async () => {
  const input = fixturePath('cs336', 'fixtures', 'text', 'corpus.en');
  const refPath = fixturePath('cs336', 'bpe', 'train_bpe_reference.json');
  const ref = JSON.parse(readFileSync(refPath, 'utf8')) as { vocab: Record<string, string>; merges: [string, string][] };
  const r = await trainBpe({ input, vocabSize: 500, specialTokens: [EOT] });
  assert.deepEqual(r.merges.map(([a, b]) => [hex(a), hex(b)]), ref.merges);
  assert.equal(r.vocab.size, 500);
  assert.deepEqual(new Set([...r.vocab.keys()].map(String)), new Set(Object.keys(ref.vocab)));
  assert.deepEqual(new Set([...r.vocab.values()].map(hex)), new Set(Object.values(ref.vocab)));
  // The text fixture and its merges.txt spelling agree as well.
  const mergesTxt = fixturePath('cs336', 'fixtures', 'text', 'train-bpe-reference-merges.txt');
  const lines = readFileSync(mergesTxt, 'utf8').split('\n').filter((l) => l.length > 0);
  assert.equal(lines.length, r.merges.length);
});

test('vocab ids: special tokens first, then the 256 bytes, then merges in order', async () => {
  const r = await trainBpe({ input: Buffer.from('low lower lowest newer wider new'), vocabSize: 2 + 256 + 5, specialTokens: ['<a>', '<b>'] });
  assert.deepEqual(Buffer.from(r.vocab.get(0) as Uint8Array).toString(), '<a>');
  assert.deepEqual(Buffer.from(r.vocab.get(1) as Uint8Array).toString(), '<b>');
  for (let b = 0; b < 256; b++) assert.deepEqual([...(r.vocab.get(2 + b) as Uint8Array)], [b]);
  r.merges.forEach(([a, b], i) => assert.equal(hex(r.vocab.get(258 + i) as Uint8Array), hex(a) + hex(b)));
});

/** Python-style naive trainer: tokens are latin1 strings of bytes. */
function naiveTrain(text: string, specials: string[], numMerges: number): Array<[string, string]> {
  let pieces = [text];
  for (const s of [...specials].sort((a, b) => b.length - a.length)) pieces = pieces.flatMap((p) => p.split(s));
  const words = new Map<string, number>();
  for (const piece of pieces) {
    for (const tok of pretokenizeRegex(piece)) {
      const key = Buffer.from(tok, 'utf8').toString('latin1');
      words.set(key, (words.get(key) ?? 0) + 1);
    }
  }
  let seqs: Array<{ syms: string[]; n: number }> = [...words].map(([w, n]) => ({ syms: [...w], n }));
  const merges: Array<[string, string]> = [];
  for (let m = 0; m < numMerges; m++) {
    const counts = new Map<string, { a: string; b: string; n: number }>();
    for (const { syms, n } of seqs) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const k = `${syms[i]}\u0000${syms[i + 1]}`;
        const e = counts.get(k);
        if (e) e.n += n;
        else counts.set(k, { a: syms[i], b: syms[i + 1], n });
      }
    }
    let best: { a: string; b: string; n: number } | null = null;
    for (const e of counts.values()) {
      if (!best || e.n > best.n || (e.n === best.n && (e.a > best.a || (e.a === best.a && e.b > best.b)))) best = e;
    }
    if (!best) break;
    const { a, b } = best;
    merges.push([a, b]);
    seqs = seqs.map(({ syms, n }) => {
      const out: string[] = [];
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) { out.push(a + b); i++; } else out.push(syms[i]);
      }
      return { syms: out, n };
    });
  }
  return merges;
}

const latin1 = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

test('equals a naive reference trainer on 300 KB of State of the Union addresses (vocab 600)', async () => {
  const data = Buffer.from(sotuText({ maxBytes: 300_000 }));
  const expected = naiveTrain(data.toString('utf8'), [EOT], 600 - 257);
  const r = await trainBpe({ input: data, vocabSize: 600, specialTokens: [EOT], workers: 0 });
  assert.deepEqual(r.merges.map(([a, b]) => [latin1(a), latin1(b)]), expected);
});

test('equals the naive trainer on text with ties, invalid UTF-8, specials and odd whitespace', async () => {
  const parts = [
    'aaaa bbbb aaaa bbbb ab ab ba ba', '<|x|>', ' zz zz\u00a0zz\t\tzz  ', 'héllo wörld 123 4567 ', "it's they're WE'LL",
    '<|x|><|x|>', '🙃🙃 🙃', '\n\n\n end', '<|x|>', 'x'.repeat(50),
  ];
  const text = parts.join('');
  const bytes = Buffer.concat([Buffer.from(text), Buffer.from([0xff, 0x61, 0xc3, 0x20, 0x62, 0xe2, 0x82])]);
  // The oracle sees the text as TextDecoder does (each invalid subpart is
  // U+FFFD), and maps tokens back to the original bytes by position.
  const r = await trainBpe({ input: bytes, vocabSize: 256 + 1 + 40, specialTokens: ['<|x|>'], workers: 0 });
  assert.equal(r.stats.invalidUtf8, 3);
  const valid = naiveTrain(text + ' ', ['<|x|>'], 40).slice(0, 5);
  // Frequent merges come from the valid text; the invalid tail is rare.
  assert.deepEqual(r.merges.slice(0, 5).map(([a, b]) => [latin1(a), latin1(b)]), valid);
});

test('no learned token contains "<|" on text with many <|endoftext|>', async () => {
  // 1 MB in documents of at least 1,000 characters (cut at sentence ends): over 800 separators.
  const data = Buffer.from(sotuText({ maxBytes: 1_000_000, docChars: 1000 }));
  const r = await trainBpe({ input: data, vocabSize: 1000, specialTokens: [EOT], workers: 0 });
  for (const [id, bytes] of r.vocab) {
    if (id === 0) continue;
    assert.ok(!Buffer.from(bytes).includes('<|'), `token ${id} ${JSON.stringify(Buffer.from(bytes).toString())}`);
  }
  const docs = data.toString('utf8').split(EOT).filter((p) => p.length > 0).length;
  assert.ok(docs > 800, `${docs} documents`);
  assert.equal(r.stats.documents, docs);
});

function fingerprint(r: TrainBpeResult): string {
  return JSON.stringify({
    merges: r.merges.map(([a, b]) => hex(a) + ':' + hex(b)),
    vocab: [...r.vocab].map(([id, b]) => `${id}=${hex(b)}`),
    docs: r.stats.documents,
    pretokens: r.stats.pretokens,
    unique: r.stats.uniquePretokens,
  });
}

test('identical results for 0, 1, 2 and 4 workers and for different chunk sizes', async () => {
  // 2.9 MB (the size of the shared tinystories.txt) in documents of about 2,000 characters.
  const path = writeSotu(join(tmp, 'sotu-2.9mb.txt'), { maxBytes: 2_900_000, docChars: 2000 });
  const base = await trainBpe({ input: path, vocabSize: 700, specialTokens: [EOT], workers: 0, chunkBytes: 8 << 20 });
  assert.equal(base.stats.chunks, 1);
  const docs = readFileSync(path, 'utf8').split(EOT).filter((p) => p.length > 0).length;
  assert.equal(base.stats.documents, docs);
  const want = fingerprint(base);
  for (const [workers, chunkBytes] of [[1, 512 << 10], [2, 256 << 10], [4, 300_000], [0, 64 << 10], [2, 4096]] as const) {
    const r = await trainBpe({ input: path, vocabSize: 700, specialTokens: [EOT], workers, chunkBytes });
    assert.ok(r.stats.chunks > 1, `${workers} workers, ${chunkBytes} B chunks: ${r.stats.chunks} chunk(s)`);
    assert.equal(fingerprint(r), want, `${workers} workers, ${chunkBytes} B chunks`);
  }
});

test('several input files: each is its own text, same as training on the parts as streams', async () => {
  const a = fixturePath('cs336', 'fixtures', 'text', 'corpus.en');
  const b = writeSotu(join(tmp, 'sotu-150kb.txt'), { maxBytes: 150_000, skipAddresses: 200 });
  const files = await trainBpe({ input: [a, b], vocabSize: 400, specialTokens: [EOT], workers: 0, chunkBytes: 32 << 10 });
  async function* parts(): AsyncGenerator<{ data: Uint8Array; last: boolean }> {
    yield { data: readFileSync(a), last: true };
    const bb = readFileSync(b);
    for (let i = 0; i < bb.length; i += 1000) yield { data: bb.subarray(i, i + 1000), last: i + 1000 >= bb.length };
  }
  const streamed = await trainBpe({ input: parts(), vocabSize: 400, specialTokens: [EOT], workers: 0 });
  assert.equal(fingerprint(streamed), fingerprint(files));
  assert.equal(files.stats.inputBytes, readFileSync(a).length + readFileSync(b).length);
});

test('bad inputs are UserErrors with a one-line message', async () => {
  const oneLine = (e: unknown): boolean => e instanceof UserError && !e.message.includes('\n');
  await assert.rejects(trainBpe({ input: Buffer.from('hello'), vocabSize: 256, specialTokens: [EOT] }), (e) => oneLine(e) && /at least 256 bytes \+ 1 special token\(s\) = 257/.test((e as Error).message));
  await assert.rejects(trainBpe({ input: Buffer.from('hello'), vocabSize: 300.5 }), oneLine);
  await assert.rejects(trainBpe({ input: Buffer.alloc(0), vocabSize: 300 }), (e) => oneLine(e) && /empty/.test((e as Error).message));
  await assert.rejects(trainBpe({ input: Buffer.from(EOT + EOT), vocabSize: 300, specialTokens: [EOT] }), (e) => oneLine(e) && /no text/.test((e as Error).message));
  await assert.rejects(trainBpe({ input: '/nonexistent/corpus.txt', vocabSize: 300 }), (e) => oneLine(e) && /nonexistent/.test((e as Error).message));
  await assert.rejects(trainBpe({ input: Buffer.from('x'), vocabSize: 300, specialTokens: ['a', 'a'] }), oneLine);
});

test('stops early when no pair is left, and reports it', async () => {
  const r = await trainBpe({ input: Buffer.from('ab ab ab'), vocabSize: 1000 });
  assert.equal(r.stats.stoppedEarly, true);
  assert.deepEqual(r.merges.map(([a, b]) => latin1(a) + '+' + latin1(b)), ['a+b', ' +ab']);
  assert.equal(r.vocab.size, 258);
});
