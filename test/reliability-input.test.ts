/**
 * Hostile input on the tokenizer side must fail cleanly (one line, exit 2,
 * nothing written), quickly and in bounded memory, or be handled exactly:
 * long runs without whitespace (train-bpe, encode), hostile tokenizer files,
 * directories where files belong, and documents larger than a read chunk
 * (split-corpus, inspect-tokenizer). CLI cases run real processes; memory
 * ceilings are a child heap limit or the summary's peak_rss_mb, set where
 * the old behaviour was far above them. No timing assertions.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../src/pipeline/errors.ts';
import { readDocuments } from '../src/stages/read-documents.ts';
import { sampleDocs } from '../src/stages/sample-docs.ts';
import { resolveInputs } from '../src/stages/read-inputs.ts';
import { BYTE_TO_UNICODE, bytesToUnicode } from '../src/tokenizer/byte-unicode.ts';
import { learnMerges } from '../src/tokenizer/bpe-learn-merges.ts';
import { BpeMerger, MergeTable } from '../src/tokenizer/bpe-apply-merges.ts';
import { trainBpe } from '../src/tokenizer/bpe-train.ts';
import { SafeCutter } from '../src/stages/cut.ts';
import { safeCutFinder } from '../src/tokenizer/chunking.ts';
import { SpecialMatcher } from '../src/tokenizer/special-matcher.ts';
import { pretokenizeRegex } from '../src/tokenizer/gpt2-pattern.ts';
import {
  huggingFaceJson, huggingFaceJsonBytes, mergesTxt, mergesTxtBytes, vocabJson, vocabJsonBytes, writeTokenizerDir, type TokenizerData,
} from '../src/tokenizer/tokenizer-files.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { fixturePath } from '../src/util/shared-data.ts';
import { runPipeline, summaryOf, type CliResult } from './helpers/cli.ts';

const EOT = '<|endoftext|>';
const tmp = mkdtempSync(join(tmpdir(), 'lmpipe-reliability-input-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A small seeded generator (xorshift), so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

/** Asserts a clean refusal: exit 2, exactly one stderr line matching `re`. */
function assertRefused(r: CliResult, re: RegExp): void {
  assert.equal(r.status, 2, `exit status (stderr: ${r.stderr})`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
  assert.match(lines[0], re);
}

/** Trains on `text` and writes the tokenizer directory `name`. */
async function tokenizerDir(name: string, text: Uint8Array, vocabSize: number): Promise<string> {
  const r = await trainBpe({ input: text, vocabSize, specialTokens: [EOT], workers: 0 });
  const dir = join(tmp, name);
  await writeTokenizerDir(dir, r);
  return dir;
}

const corpusEn = (): Buffer => readFileSync(fixturePath('cs336', 'fixtures', 'text', 'corpus.en'));

/**
 * Reference encoding: regex pretokens, then in each the lowest-ranked pair,
 * leftmost first, merged one at a time (tiktoken's order; the same result
 * as CS336's all-at-once rounds when merges only use earlier tokens).
 */
function naiveEncode(tok: Tokenizer, merges: Array<[Uint8Array, Uint8Array]>, text: string): number[] {
  const key = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
  const idOf = new Map<string, number>();
  for (let id = tok.vocabSize - 1; id >= 0; id--) idOf.set(key(tok.tokenBytes(id)), id);
  // (left id, right id) -> rank and merged id, the first rank of a repeated pair.
  const rule = new Map<number, { rank: number; id: number }>();
  merges.forEach(([a, b], rank) => {
    const k = (idOf.get(key(a)) as number) * 2 ** 20 + (idOf.get(key(b)) as number);
    if (!rule.has(k)) rule.set(k, { rank, id: idOf.get(key(a) + key(b)) as number });
  });
  const out: number[] = [];
  for (const pre of pretokenizeRegex(text)) {
    const parts = [...Buffer.from(pre, 'utf8')].map((b) => idOf.get(String.fromCharCode(b)) as number);
    for (;;) {
      let best = Infinity;
      let at = -1;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = rule.get(parts[i] * 2 ** 20 + parts[i + 1]);
        if (r !== undefined && r.rank < best) { best = r.rank; at = i; }
      }
      if (at < 0) break;
      parts.splice(at, 2, (rule.get(parts[at] * 2 ** 20 + parts[at + 1]) as { id: number }).id);
    }
    out.push(...parts);
  }
  return out;
}

describe('long runs without whitespace: exact results', () => {
  test('BPE training keeps long words in blocks: merges equal the whole-word loop', () => {
    const next = rng(7);
    for (let trial = 0; trial < 150; trial++) {
      const lens: number[] = [];
      const bytes: number[] = [];
      const counts: number[] = [];
      const seen = new Set<string>();
      const alphabet = 1 + Math.floor(next() * 4);
      for (let w = 0; w < 1 + Math.floor(next() * 6); w++) {
        const len = 1 + Math.floor(next() * (next() < 0.5 ? 10 : 200));
        const word: number[] = [];
        for (let i = 0; i < len; i++) word.push(i > 0 && next() < 0.6 ? word[i - 1] : 97 + Math.floor(next() * alphabet));
        if (seen.has(word.join())) continue;
        seen.add(word.join());
        lens.push(len);
        bytes.push(...word);
        counts.push(1 + Math.floor(next() * 4));
      }
      const words = { bytes: Uint8Array.from(bytes), lens: Int32Array.from(lens), counts: Float64Array.from(counts) };
      const merges = 1 + Math.floor(next() * 150);
      const whole = learnMerges(words, merges, undefined, 256, 1 << 30);
      for (const block of [2, 3, 5, 16]) {
        const blocked = learnMerges(words, merges, undefined, 256, block);
        assert.deepEqual(Array.from(blocked.pairs), Array.from(whole.pairs), `trial ${trial}, blocks of ${block}`);
        assert.deepEqual(Array.from(blocked.pairCounts), Array.from(whole.pairCounts), `trial ${trial}, blocks of ${block}`);
      }
    }
  });

  test('long pretokens merge like the one-at-a-time scan, for any merge order (passes, heap, unsound orders)', () => {
    const next = rng(11);
    for (let trial = 0; trial < 300; trial++) {
      const byteToId = new Int32Array(256).fill(-1);
      const letters = [0x61, 0x62, 0x63];
      letters.forEach((b, i) => { byteToId[b] = i; });
      // Random merges over all ids, including ones that a later merge makes (unsound orders).
      const nMerges = 2 + Math.floor(next() * 12);
      const triples: number[] = [];
      for (let m = 0; m < nMerges; m++) {
        const pick = (): number => Math.floor(next() * (3 + nMerges));
        triples.push(pick(), pick(), 3 + m);
      }
      const merger = new BpeMerger(new MergeTable(Int32Array.from(triples)), byteToId);
      for (let k = 0; k < 5; k++) {
        const len = 2 + Math.floor(next() * 250);
        const text = Uint8Array.from({ length: len }, (_, i) => (next() < 0.7 && i > 0 ? 0x61 : letters[Math.floor(next() * 3)]));
        const scan = new Int32Array(len);
        const n = merger.merge(text, 0, len, scan); // at most 256 bytes: the quadratic scan
        assert.deepEqual(Array.from(merger.mergeLong(text, 0, len)), Array.from(scan.subarray(0, n)), `trial ${trial}.${k}`);
      }
    }
  });

  test('encoding long runs (split where no merge joins, passes, heap) equals the reference, whole and streamed', async () => {
    const next = rng(5);
    // Training text with runs, so that merges join a|a, ab|ab and so on.
    let train = '';
    for (let i = 0; i < 400; i++) train += ['aaaa', 'abab', 'ba', 'cab', 'aa', ' abc', ' aaaaaaaa', ' bcbc', '\n'][Math.floor(next() * 9)];
    const r = await trainBpe({ input: Buffer.from(train + 'a'.repeat(3000)), vocabSize: 256 + 1 + 60, specialTokens: [EOT], workers: 0 });
    const tok = Tokenizer.fromVocabMerges(r.vocab, r.merges, [EOT]);
    const pieces = [
      'a'.repeat(6000), 'ab'.repeat(1500), 'abc'.repeat(700), 'ad'.repeat(2000), 'dddd'.repeat(800),
      'ba'.repeat(40) + 'd' + 'a'.repeat(300), '!'.repeat(3000), '9'.repeat(1000), ' '.repeat(300) + 'x',
    ];
    for (let k = 0; k < 12; k++) {
      let text = '';
      for (let j = 0; j < 3; j++) text += (next() < 0.5 ? ' ' : '') + pieces[Math.floor(next() * pieces.length)] + (next() < 0.3 ? EOT : '');
      const want = referenceWithSpecials(tok, r.merges, text);
      assert.deepEqual(Array.from(tok.encodeToIds(text)), want, `case ${k} whole`);
      const bytes = Buffer.from(text);
      const parts: Uint8Array[] = [];
      for (let o = 0; o < bytes.length; o += 97) parts.push(bytes.subarray(o, o + 97));
      const streamed: number[] = [];
      for (const ids of tok.encodeIterableBatchesSync(parts, 64)) streamed.push(...ids);
      assert.deepEqual(streamed, want, `case ${k} streamed`);
    }
  });

  test('the chunker refuses a stretch past its limit, naming where the stretch starts', () => {
    const prefix = Buffer.from('hello world. '.repeat(100));
    const rc = new SafeCutter({ findCut: safeCutFinder(new SpecialMatcher([EOT])), unitBytes: 256, maxHeldBytes: 4096, purpose: 'train on it exactly' });
    let out = 0;
    assert.throws(() => {
      for (const c of rc.push('corpus.txt', 0, prefix)) out += c.data.length;
      for (const c of rc.push('corpus.txt', prefix.length, Buffer.alloc(10000, 0x61))) out += c.data.length;
    }, (e: unknown) => e instanceof UserError && !e.message.includes('\n') && new RegExp(`^corpus\\.txt: from byte ${prefix.length - 1}, more than 0\\.004 MB`).test(e.message));
    assert.equal(out, prefix.length - 1);
  });
});

/** The reference with special tokens split out first (they are kept whole). */
function referenceWithSpecials(tok: Tokenizer, merges: Array<[Uint8Array, Uint8Array]>, text: string): number[] {
  const out: number[] = [];
  text.split(EOT).forEach((piece, i) => {
    if (i > 0) out.push(tok.specialId(EOT) as number);
    out.push(...naiveEncode(tok, merges, piece));
  });
  return out;
}

describe('tokenizer files are written without holding them as strings', () => {
  test('bytesToUnicode of a long token equals the per-byte table', () => {
    const next = rng(3);
    for (const n of [65, 1000, 100_000]) {
      for (const wide of [false, true]) {
        const b = Uint8Array.from({ length: n }, () => (wide ? Math.floor(next() * 256) : 0x41 + Math.floor(next() * 26)));
        assert.equal(bytesToUnicode(b), Array.from(b, (x) => BYTE_TO_UNICODE[x]).join(''));
      }
    }
  });

  test('vocab.json, merges.txt and tokenizer.json bytes equal the string forms (aliases, digit tokens, specials)', async () => {
    const r = await trainBpe({ input: Buffer.concat([corpusEn(), Buffer.from(' 10 10 10 2 22 22 007 007 4294967294 4294967294 ')]), vocabSize: 700, specialTokens: [EOT, '<pad>'], workers: 0 });
    const vocab = new Map(r.vocab);
    vocab.set(vocab.size, Buffer.from('th')); // an alias: the same bytes as an earlier id
    vocab.set(vocab.size, Buffer.from('x'.repeat(300))); // a long token
    const data: TokenizerData = { vocab, merges: r.merges, specialTokens: r.specialTokens };
    const v = vocabJson(data.vocab);
    const vb = vocabJsonBytes(data.vocab);
    assert.ok(Object.keys(v.aliases).length >= 1);
    assert.deepEqual(vb.aliases, v.aliases);
    assert.ok(Buffer.from(v.text).equals(vb.bytes));
    assert.ok(Buffer.from(mergesTxt(data.merges)).equals(mergesTxtBytes(data.merges)));
    assert.ok(Buffer.from(huggingFaceJson(data)).equals(huggingFaceJsonBytes(data)));
  });
});

describe('train-bpe on long runs (CLI)', () => {
  test('2 MB of one letter trains within a 128 MB heap (it ran out of memory before)', () => {
    const input = join(tmp, 'run-2mb.txt');
    writeFileSync(input, Buffer.alloc(2_000_000, 0x61));
    const out = join(tmp, 'tok-run');
    const r = runPipeline('train-bpe', ['-i', input, '--vocab-size', '300', '-o', out, '--quiet'], { env: { NODE_OPTIONS: '--max-old-space-size=128' } });
    assert.equal(r.status, 0, r.stderr);
    const s = summaryOf(r);
    assert.equal(s.unique_pretokens, 1);
    const merges = readFileSync(join(out, 'merges.txt'), 'utf8').split('\n');
    assert.deepEqual(merges.slice(0, 3), ['a a', 'aa aa', 'aaaa aaaa']);
    const longest = (s.longest_tokens as Array<{ bytes: number; text: string }>)[0];
    assert.ok(longest.bytes > 1_000_000 && longest.text.length < 210, 'reports show long tokens cut short');
  });

  test('a run longer than --max-pretoken-mb is one line naming the file, offset, limit and flag; nothing is written', () => {
    const prefix = 'hello world. '.repeat(1000);
    const input = join(tmp, 'run-refused.txt');
    writeFileSync(input, Buffer.concat([Buffer.from(prefix), Buffer.alloc(2_500_000, 0x7a)]));
    const out = join(tmp, 'tok-refused');
    const r = runPipeline('train-bpe', ['-i', input, '--vocab-size', '300', '-o', out, '--max-pretoken-mb', '1', '--quiet']);
    assertRefused(r, new RegExp(`${input.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: from byte ${prefix.length - 1}, more than 1 MB without a place to cut.*--max-pretoken-mb`));
    assert.equal(existsSync(out), false);
  });
});

describe('encode on long runs (CLI)', () => {
  let plain = '';
  let joining = '';
  before(async () => {
    plain = await tokenizerDir('tok-plain', corpusEn(), 400);
    joining = await tokenizerDir('tok-joining', Buffer.concat([corpusEn(), Buffer.from(` ${'a'.repeat(5000)} `)]), 400);
  });

  test('a 24 MB run that no merge joins is encoded exactly, in pieces, in bounded memory', () => {
    const head = 'Once upon a time.\n';
    const input = join(tmp, 'run-24mb.txt');
    // 0xff (never in UTF-8, so no merge joins it), not a control byte: the reader refuses text that is mostly control bytes (src/stages/formats/text.ts).
    writeFileSync(input, Buffer.concat([Buffer.from(head), Buffer.alloc(24 << 20, 0xff), Buffer.from('\nThe end.')]));
    const out = join(tmp, 'run-24mb.bin');
    const r = runPipeline('encode', ['-t', plain, '-i', input, '-o', out, '--workers', '1', '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    const s = summaryOf(r);
    const tok = Tokenizer.fromDir(plain);
    const ids = new Uint16Array(readFileSync(out).buffer.slice(0));
    assert.deepEqual(Array.from(ids.subarray(0, 8)), Array.from(tok.encodeToIds(head)).slice(0, 8));
    assert.equal(s.tokens, tok.encodeToIds(head).length + (24 << 20) + tok.encodeToIds('\nThe end.').length);
    // Before: the whole run was one unit (about 40 bytes per byte to merge, over 1 GB).
    assert.ok((s.peak_rss_mb as number) < 450, `peak ${s.peak_rss_mb} MB`);
  });

  test('a run the merges join everywhere: exact below --max-pretoken-mb, one clean line above it', () => {
    const small = join(tmp, 'run-300k.txt');
    const text = `The cat. ${'a'.repeat(300_000)} sat.`;
    writeFileSync(small, text);
    const out = join(tmp, 'run-300k.bin');
    const r = runPipeline('encode', ['-t', joining, '-i', small, '-o', out, '--workers', '0', '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    const tok = Tokenizer.fromDir(joining);
    assert.ok(tok.encodeToIds('aaaa').length < 4, 'the tokenizer merges a|a');
    assert.deepEqual(Array.from(new Uint16Array(readFileSync(out).buffer.slice(0))), Array.from(tok.encodeToIds(text)));

    const big = join(tmp, 'run-3mb.txt');
    writeFileSync(big, Buffer.concat([Buffer.from('The cat sat.'), Buffer.alloc(3_000_000, 0x61)]));
    const refused = join(tmp, 'run-3mb.bin');
    const r2 = runPipeline('encode', ['-t', joining, '-i', big, '-o', refused, '--max-pretoken-mb', '1', '--quiet']);
    assertRefused(r2, /run-3mb\.txt: from byte 12, more than 1 MB without a place to cut.*raise --max-pretoken-mb above 1/);
    assert.equal(existsSync(refused), false);
  });
});

describe('hostile tokenizer files: one line at load, exit 2, nothing written', () => {
  const byteVocab = (): Record<string, number> => {
    const v: Record<string, number> = {};
    for (let b = 0; b < 256; b++) v[bytesToUnicode(Uint8Array.of(b))] = b;
    return v;
  };
  const dir = (name: string, vocab: Record<string, unknown> | null, merges = '', meta?: unknown): string => {
    const d = join(tmp, 'hostile', name);
    mkdirSync(d, { recursive: true });
    if (vocab) writeFileSync(join(d, 'vocab.json'), JSON.stringify(vocab));
    writeFileSync(join(d, 'merges.txt'), merges);
    if (meta !== undefined) writeFileSync(join(d, 'lmpipe.json'), JSON.stringify(meta));
    return d;
  };
  const input = join(tmp, 'hostile-input.txt');
  before(() => writeFileSync(input, 'hello world'));

  const cases: Array<[string, () => string, RegExp]> = [
    ['an id claiming a huge vocabulary', () => dir('huge-id', { ...byteVocab(), he: 2147483647 }, 'h e\n'), /vocab\.json: token "he" has id 2147483647, but the file has 257 tokens, so ids must run 0\.\.256/],
    ['a negative id', () => dir('negative-id', { ...byteVocab(), he: -3 }), /token "he" has id -3; ids must be non-negative integers/],
    ['a non-integer id', () => dir('fraction-id', { ...byteVocab(), he: 1.5 }), /token "he" has id 1\.5/],
    ['a duplicate id', () => dir('duplicate-id', { ...byteVocab(), he: 256, ll: 256 }), /id 256 is used by two tokens \("he" and "ll"\)/],
    ['a merge naming a token not in the vocabulary', () => dir('unknown-merge', { ...byteVocab(), he: 256 }, 'h e\nhe zz\n'), /merges\.txt:2: token "zz" of merge "he zz" is not in vocab\.json/],
    ['missing single-byte tokens', () => dir('missing-bytes', Object.fromEntries(Object.entries(byteVocab()).filter(([, id]) => id < 200).map(([t], i) => [t, i]))), /vocab\.json: no token for byte 0xc8 \("È"\) and 55 more byte\(s\)/],
    ['an alias id claiming a huge vocabulary', () => dir('huge-alias', byteVocab(), '', { aliases: { 4000000000: 3 } }), /alias 4000000000 -> 3 in lmpipe\.json is not an id of this vocabulary/],
    ['a directory where vocab.json belongs', () => { const d = dir('vocab-dir', null); mkdirSync(join(d, 'vocab.json')); return d; }, /vocab\.json is a directory, not a file/],
    ['a file (merges.txt) where the tokenizer directory belongs', () => join(dir('file-not-dir', byteVocab()), 'merges.txt'), /--tokenizer .*merges\.txt is a file, not a tokenizer directory: pass its directory/],
    ['a vocab.json where the tokenizer directory belongs', () => join(dir('vocab-not-dir', byteVocab()), 'vocab.json'), /vocab\.json is a vocab\.json, not a tokenizer\.json: pass its directory/],
  ];
  for (const [what, make, re] of cases) {
    test(what, () => {
      const out = join(tmp, 'hostile-out', `${what.replace(/\W+/g, '-')}.bin`);
      const r = runPipeline('encode', ['-t', make(), '-i', input, '-o', out, '--quiet']);
      assertRefused(r, re);
      assert.equal(existsSync(out), false);
    });
  }

  test('inspect-tokenizer refuses the same way', () => {
    assertRefused(runPipeline('inspect-tokenizer', ['-t', dir('huge-id-2', { ...byteVocab(), he: 2147483647 }), '--quiet']), /has id 2147483647/);
  });

  test('in memory, a byte the vocabulary lacks is a UserError, not a crash', () => {
    const vocab = new Map<number, Uint8Array>([[0, Buffer.from('a')], [1, Buffer.from('b')]]);
    const tok = Tokenizer.fromVocabMerges(vocab, []);
    assert.throws(() => tok.encode('ac'), (e: unknown) => e instanceof UserError && /byte 0x63 has no token/.test(e.message));
  });
});

describe('a directory where input files belong (CLI)', () => {
  const inDir = join(tmp, 'corpus-dir');
  before(() => {
    mkdirSync(inDir, { recursive: true });
    writeFileSync(join(inDir, 'a.txt'), `hello${EOT}world`);
  });
  const glob = /'[^']*corpus-dir' is a directory; name its files with a quoted glob such as '[^']*corpus-dir\/\*\.txt'/;

  test('train-bpe, encode and split-corpus refuse --input DIR, naming a glob', async () => {
    const tok = await tokenizerDir('tok-dir-case', corpusEn(), 300);
    const out = join(tmp, 'dir-case-out');
    assertRefused(runPipeline('train-bpe', ['-i', inDir, '-o', out, '--quiet']), new RegExp(`--input ${glob.source}`));
    assertRefused(runPipeline('encode', ['-t', tok, '-i', inDir, '-o', join(out, 'x.bin'), '--quiet']), new RegExp(`--input ${glob.source}`));
    assertRefused(runPipeline('split-corpus', ['-i', inDir, '--out-dir', out, '--quiet']), new RegExp(`--input ${glob.source}`));
    assertRefused(runPipeline('inspect-tokenizer', ['-t', tok, '--sample', inDir, '--quiet']), new RegExp(`--sample ${glob.source}`));
    assert.equal(existsSync(out), false);
  });
});

describe('documents larger than a read chunk', () => {
  test('read-documents + sample-docs: any read size gives the whole-text split (separators across reads, self-overlapping separators)', async (t) => {
    const next = rng(9);
    const dir = mkdtempSync(join(tmpdir(), 'lmpipe-docs-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const ctx = { signal: new AbortController().signal, log: () => {}, warn: () => {}, count: () => {} };
    for (const sepText of [EOT, 'aa', 'aba']) {
      for (let trial = 0; trial < 40; trial++) {
        let text = '';
        for (let i = 0; i < 30; i++) text += next() < 0.3 ? sepText : 'ab'[Math.floor(next() * 2)] + (next() < 0.2 ? 'xyz' : '');
        const path = join(dir, `t${trial}.txt`);
        writeFileSync(path, text);
        const want = text.split(sepText).filter((d) => d.length > 0);
        const size = 1 + Math.floor(next() * 7);
        const read = readDocuments({ files: await resolveInputs([path]), chunkBytes: size, separator: sepText });
        const sample = sampleDocs({ separator: sepText, fraction: 1, seed: 0 });
        const docs: string[] = [];
        const starts: number[] = [];
        let open = false;
        for await (const piece of sample.run(read.run((async function* () {})(), ctx), ctx)) {
          if (!open) { docs.push(''); starts.push(piece.offset); }
          docs[docs.length - 1] += Buffer.from(piece.data).toString();
          open = piece.continues === true;
        }
        assert.deepEqual(docs, want, `${sepText} ${JSON.stringify(text)} in reads of ${size}`);
        starts.forEach((o, i) => assert.equal(text.slice(o, o + docs[i].length), docs[i]));
      }
    }
  });

  describe('a 67 MB document (CLI)', () => {
    const input = join(tmp, 'big-doc.txt');
    const small = (i: number): string => `Document ${i} is short.`;
    const bigDoc = Buffer.concat([Buffer.from('Big '), Buffer.alloc(14_000_000 * 5, 0x20).fill('word ')]);
    before(() => {
      const before20 = Array.from({ length: 20 }, (_, i) => small(i)).join(EOT);
      const after20 = Array.from({ length: 20 }, (_, i) => small(20 + i)).join(EOT);
      writeFileSync(input, Buffer.concat([Buffer.from(before20 + EOT), bigDoc, Buffer.from(EOT + after20)]));
    });

    test('split-corpus keeps it whole on one side, streamed, and says so', () => {
      const out = join(tmp, 'split-big');
      const r = runPipeline('split-corpus', ['-i', input, '--out-dir', out, '--chunk-mb', '1', '--quiet']);
      assert.equal(r.status, 0, r.stderr);
      const s = summaryOf(r);
      assert.equal(s.documents, 41, 'the big document is one document (it was cut into three before)');
      assert.equal(s.large_documents, 1);
      assert.match((s.warnings as string[]).join('\n'), /1 document\(s\) over 64 MB were kept whole/);
      const sides = ['train.txt', 'valid.txt'].map((f) => readFileSync(join(out, f)));
      const holder = sides.find((b) => b.length > bigDoc.length) as Buffer;
      const at = holder.indexOf(bigDoc.subarray(0, 64));
      assert.ok(at >= 0 && holder.subarray(at, at + bigDoc.length).equals(bigDoc), 'the document is whole, without separators inside');
      assert.ok(sides.every((b) => b === holder || b.length < 10_000), 'no piece of it on the other side');
      // Before: the read stage carried up to 64 MB and copied it per chunk (320 MB here).
      assert.ok((s.peak_rss_mb as number) < 220, `peak ${s.peak_rss_mb} MB`);
    });

    test('inspect-tokenizer samples it by streaming its encoding', async () => {
      const tok = await tokenizerDir('tok-inspect', corpusEn(), 300);
      const r = runPipeline('inspect-tokenizer', ['-t', tok, '--sample', input, '--sample-mb', '1000', '--quiet']);
      assert.equal(r.status, 0, r.stderr);
      const s = summaryOf(r);
      const sample = s.sample as { documents: number; bytes: number; tokens: number };
      assert.equal(sample.documents, 41);
      assert.equal(sample.bytes, readFileSync(input).length - 40 * EOT.length);
      // Before: each sampled document was held and encoded whole (420 MB here).
      assert.ok((s.peak_rss_mb as number) < 300, `peak ${s.peak_rss_mb} MB`);
    });
  });
});
