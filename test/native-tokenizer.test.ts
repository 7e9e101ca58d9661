/**
 * The native tokenizer core (`src/tokenizer/native-tokenizer.ts`, C++ in
 * `native/src/tokenizer/`) against the TypeScript implementation it must
 * equal, tiktoken's GPT-2 encoding and the naive reference
 * (`bpe-reference.ts`), once per code path this CPU runs (scalar, avx2,
 * avx512): pretoken boundaries and invalid-UTF-8 tallies, encoded ids and
 * their typed-array type, pretoken counts and count stats, merges learned
 * from native counts (CS336 reference), the character class of every code
 * point, and clear errors on bad input. Skips (with the reason) only when
 * the addon is not built; with CI=true that fails instead.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { get_encoding } from 'tiktoken';
import { UserError } from '../src/pipeline/errors.ts';
import { BpeEncoder, IdBuffer, type EncoderSpec } from '../src/tokenizer/bpe-encode.ts';
import { learnMerges } from '../src/tokenizer/bpe-learn-merges.ts';
import { referenceCounts, referenceEncode, referenceTrain, toByteString } from '../src/tokenizer/bpe-reference.ts';
import { Worker } from 'node:worker_threads';
import { workerExecArgv } from '../src/pipeline/worker-pool.ts';
import {
  NativeCounter, NativeEncoder, countUnit, createUnitCounter, createUnitEncoder, nativeCodePointClasses, nativePretokenEnds, nativeTokenizerAvailable,
  nativeTokenizerIsa, nativeTokenizerIsas, setNativeTokenizerIsa, type NativeTokenizerIsa,
} from '../src/tokenizer/native-tokenizer.ts';
import { PretokenTable, countChunk, emptyCountStats, type CountStats, type PretokenCounts } from '../src/tokenizer/pretoken-count.ts';
import { INVALID_CODE_POINT, codePointClass, scanPretokens } from '../src/tokenizer/pretokenizer.ts';
import { SpecialMatcher } from '../src/tokenizer/special-matcher.ts';
import { dtypeForVocab, typedArrayFor } from '../src/tokenizer/token-dtype.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { Rng } from '../src/util/rng.ts';
import { fixturePath } from '../src/util/shared-data.ts';
import { sotuText } from './helpers/sotu.ts';
import { skipWithoutNative } from './helpers/native-skip.ts';

const EOT = '<|endoftext|>';

const skip = skipWithoutNative('test/native-tokenizer.test.ts', 'native tokenizer', () => {
  const a = nativeTokenizerAvailable();
  return a.ok ? null : a.reason;
});

/** What the TypeScript path returns for a unit (as `encodeUnit` in bpe-encode-unit.ts: exact length, narrowest type). */
function tsEncode(encoder: BpeEncoder, bytes: Uint8Array): Uint16Array | Uint32Array {
  const ids = new IdBuffer((bytes.length >> 2) + 16);
  encoder.encodeRange(bytes, 0, bytes.length, ids);
  const out = new (typedArrayFor(dtypeForVocab(encoder.spec.vocabSize)))(ids.length);
  out.set(ids.view());
  return out;
}

/** What a count task (pretoken-count-worker.ts) returns for a unit. */
function tsCount(bytes: Uint8Array, specials: readonly string[]): { counts: PretokenCounts; stats: CountStats } {
  const table = new PretokenTable(1 << 16);
  const stats = emptyCountStats();
  countChunk(bytes, bytes.length, new SpecialMatcher(specials), table, stats);
  return { counts: table.toCounts(), stats };
}

function countsMap(c: PretokenCounts): Map<string, number> {
  const m = new Map<string, number>();
  let o = 0;
  for (let k = 0; k < c.lens.length; k++) {
    const key = Buffer.from(c.bytes.subarray(o, o + c.lens[k])).toString('latin1');
    assert.ok(!m.has(key), `pretoken ${JSON.stringify(key)} listed twice`);
    m.set(key, c.counts[k]);
    o += c.lens[k];
  }
  assert.equal(o, c.bytes.length);
  return m;
}

function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** Text pieces covering every branch of the GPT-2 pattern and the Unicode edge cases. */
const PIECES: string[] = [
  'a', 'Z', 'hello', ' world', 'The', 'ünïcödé', 'naïve', 'straße', 'ÉCOLE', 'Ωmega',
  '0', '7', '42', '2024', '3.14159', ' 1000000', '٣٤', '９', 'Ⅻ', '²', '½',
  "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "''", "'", "'x", " 's", "n't", "can't", "we'll", "I'd",
  '!', '?', '...', ',', '.', '--', '—', '“', '”', '«', '»', '(', ')', '#', '$', '%', '&', '*', '@', '^', '~', '`', '|', '\\', '/', '<', '>', '_', '-', '+', '=',
  ' ', '  ', '   ', '\t', '\t\t', '\n', '\n\n', '\n\n\n', '\r\n', '\r', '\v', '\f', ' \n', '\n ', ' \t ',
  '\u0085', '\u00a0', '\u3000', '\ufeff', '\u2000', '\u2028', '\u2029', '\u200b', '\u1680', '\u180e', '\u202f', '\u205f',
  'Привет', ' мир', 'Γειά', '日本語', '中文字符', '，', '。', '한국어', 'العربية', 'עברית', 'हिन्दी', 'ไทย',
  '🙃', '😀', '👍🏽', '👨‍👩‍👧', '🇩🇪', '❤️', '🎉', '∑', '∞', '€', '©', '™',
  'e\u0301', '\u0301', 'a\u0308', 'n\u0303\u0303', '\u0363', '\u00ad',
  '\u0000', '\u0001', '\u0007', '\u001b[0m', '\u001c', '\u001f', '\u007f', '\u0080', '\u009f',
  '\ud83d', '\ude03', '\ufffd', '\uffff', '\u{10ffff}', '\u{1d400}', '\u{20000}', '\u{e0001}',
  '<|', '|>', '<|endoftext', 'endoftext|>', EOT, `${EOT}${EOT}`,
  'http://example.com/a?b=c', 'foo_bar', 'camelCase', 'x86_64', 'v2.0.1', 'C++', 'U.S.A.',
];

/**
 * A random string of pieces; with `anyCodePoint`, also random code points
 * and UTF-16 units (surrogates included). Those are compared with the TS
 * path and the reference only: V8 and tiktoken's Rust regex may follow
 * different Unicode versions (V8's ICU 78 makes U+10953, Sidetic, a letter
 * that tiktoken does not know).
 */
function randomText(rng: Rng, maxPieces: number, anyCodePoint = true): string {
  const n = 1 + rng.intBelow(maxPieces);
  let s = '';
  for (let i = 0; i < n; i++) {
    const r = rng.uniform();
    if (r < 0.8 || !anyCodePoint) s += PIECES[rng.intBelow(PIECES.length)];
    else if (r < 0.9) s += String.fromCodePoint(rng.intBelow(0x110000));
    else s += String.fromCharCode(rng.uniform() < 0.5 ? rng.intBelow(128) : rng.intBelow(0x10000));
  }
  return s;
}

/** Random bytes biased towards UTF-8 structure (lead bytes, continuations, truncations). */
function randomBytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  const pool = [0x20, 0x27, 0x73, 0x41, 0x30, 0x0a, 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x8f, 0x90];
  for (let i = 0; i < n; i++) out[i] = rng.uniform() < 0.5 ? pool[rng.intBelow(pool.length)] : rng.intBelow(256);
  return out;
}

/** Long runs (over 5,000 characters) of every class and mixtures. */
function longRuns(): string[] {
  const out: string[] = [];
  for (const unit of [' ', '\n', '\t', ' \n', '0', '12', '!', '-=', 'a', 'ab', 'é', '中', '🙃', "'", '\u3000', '\u0085', '\ufeff', '\u00a0', 'e\u0301']) {
    for (const n of [255, 257, 5001]) out.push(unit.repeat(n), `x${unit.repeat(n)}y`, `${unit.repeat(n)} end`);
  }
  return out;
}

/** Vocabulary map and merges as byte strings, from an encoder spec (for the reference encoder). */
function referenceTables(spec: EncoderSpec): { vocab: Map<string, number>; merges: [string, string][] } {
  const bytesOf: string[] = [];
  for (let b = 0; b < 256; b++) if (spec.byteToId[b] >= 0) bytesOf[spec.byteToId[b]] = String.fromCharCode(b);
  const merges: [string, string][] = [];
  for (let k = 0; k + 2 < spec.merges.length; k += 3) {
    const [l, r, c] = [spec.merges[k], spec.merges[k + 1], spec.merges[k + 2]];
    bytesOf[c] ??= bytesOf[l] + bytesOf[r];
    merges.push([bytesOf[l], bytesOf[r]]);
  }
  const vocab = new Map<string, number>();
  bytesOf.forEach((s, id) => { if (s !== undefined && !vocab.has(s)) vocab.set(s, id); });
  for (const s of spec.specials) vocab.set(toByteString(s.text), s.id);
  return { vocab, merges };
}

describe('native tokenizer core', { skip }, () => {
  if (skip) return;
  const tok = Tokenizer.fromFiles(
    fixturePath('cs336', 'fixtures', 'text', 'gpt2_vocab.json'), fixturePath('cs336', 'fixtures', 'text', 'gpt2_merges.txt'), [EOT],
  );
  const spec = tok.encoderSpec();
  const oracle = get_encoding('gpt2');
  const defaultIsa = nativeTokenizerIsa();
  after(() => { oracle.free(); setNativeTokenizerIsa(defaultIsa); });
  const isas: NativeTokenizerIsa[] = nativeTokenizerIsas();

  it('runs on this CPU: scalar always, the default is the best path', () => {
    assert.equal(isas[0], 'scalar');
    assert.equal(defaultIsa, isas[isas.length - 1]);
    process.stderr.write(`note: native tokenizer paths on this CPU: ${isas.join(', ')}\n`);
  });

  it('the class table equals codePointClass for every code point 0..0x10FFFF (and invalid subparts are "other")', () => {
    const cps = new Uint32Array(INVALID_CODE_POINT + 1).map((_, i) => i);
    const native = nativeCodePointClasses(cps);
    for (let cp = 0; cp <= INVALID_CODE_POINT; cp++) {
      if (native[cp] !== codePointClass(cp)) assert.fail(`U+${cp.toString(16)}: native class ${native[cp]}, TS ${codePointClass(cp)}`);
    }
  });

  for (const isa of isas) {
    describe(`[${isa}]`, () => {
      const use = (): void => { setNativeTokenizerIsa(isa); };

      it('pretoken boundaries and invalid-UTF-8 tallies equal the TS scanner (text, long runs, random bytes)', () => {
        use();
        const rng = new Rng(7 + isa.length);
        const inputs: Uint8Array[] = [];
        for (let k = 0; k < 1500; k++) inputs.push(Buffer.from(randomText(rng, k < 800 ? 6 : 60)));
        for (const s of longRuns()) inputs.push(Buffer.from(s));
        for (let k = 0; k < 1500; k++) inputs.push(randomBytes(rng, 1 + rng.intBelow(k < 1000 ? 40 : 600)));
        for (const bytes of inputs) {
          const counters = { invalid: 0 };
          const ends = new Int32Array(bytes.length + 1);
          const n = bytes.length === 0 ? 0 : scanPretokens(bytes, 0, bytes.length, ends, counters);
          const got = nativePretokenEnds(bytes);
          assert.deepEqual(Array.from(got.ends), Array.from(ends.subarray(0, n)), `boundaries of ${Buffer.from(bytes).toString('hex').slice(0, 200)}`);
          assert.equal(got.invalid, counters.invalid, 'invalid UTF-8 subparts');
        }
      });

      it('every State of the Union address: ids equal the TS encoder and tiktoken; counts equal a TS count task', () => {
        use();
        const text = sotuText();
        const bytes = Buffer.from(text);
        const enc = new NativeEncoder(spec);
        try {
          const ids = enc.encodeUnit(bytes);
          const ts = tsEncode(new BpeEncoder(spec), bytes);
          assert.ok(ids instanceof Uint16Array);
          assert.equal(firstDiff(ids, ts), -1);
          assert.equal(firstDiff(ids, oracle.encode(text, [EOT])), -1);
          // Again with a warm cache and into a recycled buffer.
          const out = new ArrayBuffer(ids.length * 2 + 64);
          const again = enc.encodeUnit(bytes, out);
          assert.equal(again.buffer, out);
          assert.equal(firstDiff(again, ts), -1);
        } finally {
          enc.release();
        }
        const native = countUnit(bytes, bytes.length, [EOT]);
        const ref = tsCount(bytes, [EOT]);
        assert.deepEqual(native.stats, ref.stats);
        assert.deepEqual(countsMap(native.counts), countsMap(ref.counts));
      });

      it('generated text (U+0085, U+00A0, U+3000, U+FEFF, contractions, CJK, emoji, combining marks, controls, long runs): = TS, tiktoken, reference', () => {
        use();
        const rng = new Rng(20251207);
        const enc = new NativeEncoder(spec, { cacheSlotsLog2: 6 }); // a tiny cache: resets and reinserts are exercised too
        const ts = new BpeEncoder(spec);
        const ref = referenceTables(spec);
        const texts: string[] = [];
        for (let k = 0; k < 3000; k++) texts.push(randomText(rng, k < 1500 ? 8 : 50, k % 2 === 1));
        texts.push(...longRuns());
        const pinned = (k: number): boolean => k >= 3000 || k % 2 === 0;
        try {
          texts.forEach((text, k) => {
            const bytes = Buffer.from(text);
            const ids = enc.encodeUnit(bytes);
            const wellFormed = text.toWellFormed();
            assert.equal(firstDiff(ids, tsEncode(ts, bytes)), -1, `TS, case ${k}: ${JSON.stringify(text.slice(0, 200))}`);
            if (pinned(k)) assert.equal(firstDiff(ids, oracle.encode(wellFormed, [EOT])), -1, `tiktoken, case ${k}: ${JSON.stringify(text.slice(0, 200))}`);
            if (k % 10 === 0 && text.length < 2000) assert.equal(firstDiff(ids, referenceEncode(wellFormed, ref.vocab, ref.merges, [EOT])), -1, `reference, case ${k}`);
            const c = countUnit(bytes, bytes.length, [EOT]);
            const t = tsCount(bytes, [EOT]);
            assert.deepEqual(c.stats, t.stats, `count stats, case ${k}`);
            assert.deepEqual(countsMap(c.counts), countsMap(t.counts), `counts, case ${k}`);
            if (k % 10 === 0 && text.length < 2000) assert.deepEqual(countsMap(c.counts), referenceCounts(wellFormed, [EOT]), `reference counts, case ${k}`);
          });
          assert.ok(enc.info().cacheResets > 0);
        } finally {
          enc.release();
        }
      });

      it('invalid UTF-8 and control bytes: ids, counts and tallies equal the TS path', () => {
        use();
        const rng = new Rng(99);
        const enc = new NativeEncoder(spec);
        const ts = new BpeEncoder(spec);
        let invalid = 0;
        try {
          for (let k = 0; k < 2000; k++) {
            const bytes = randomBytes(rng, 1 + rng.intBelow(k < 1500 ? 64 : 3000));
            if (k % 7 === 0 && bytes.length > EOT.length) bytes.set(Buffer.from(EOT), rng.intBelow(Math.max(1, bytes.length - EOT.length)));
            const before = ts.scan.invalid;
            assert.equal(firstDiff(enc.encodeUnit(bytes), tsEncode(ts, bytes)), -1, `case ${k}: ${Buffer.from(bytes).toString('hex').slice(0, 200)}`);
            invalid += ts.scan.invalid - before;
            const c = countUnit(bytes, bytes.length, [EOT]);
            const t = tsCount(bytes, [EOT]);
            assert.deepEqual(c.stats, t.stats, `count stats, case ${k}`);
            assert.deepEqual(countsMap(c.counts), countsMap(t.counts), `counts, case ${k}`);
          }
          assert.equal(enc.info().invalidUtf8, invalid);
          assert.ok(invalid > 1000);
        } finally {
          enc.release();
        }
      });

      it('a vocabulary over 65,536 ids gives uint32 ids, as the TS path does', () => {
        use();
        const wide: EncoderSpec = { ...spec, vocabSize: 70_000, specials: [{ text: EOT, id: 69_999 }, { text: '<pad>', id: 50_256 }] };
        const enc = new NativeEncoder(wide);
        try {
          const bytes = Buffer.from(`hello${EOT} world<pad>!${sotuText({ maxBytes: 20_000 })}`);
          const ids = enc.encodeUnit(bytes);
          const ts = tsEncode(new BpeEncoder(wide), bytes);
          assert.ok(ids instanceof Uint32Array && ts instanceof Uint32Array);
          assert.equal(firstDiff(ids, ts), -1);
          assert.ok(ids.includes(69_999));
          const small = new ArrayBuffer(8);
          assert.notEqual(enc.encodeUnit(bytes, small).buffer, small);
        } finally {
          enc.release();
        }
      });

      it('special-token matching is leftmost-longest (overlapping tokens, several first bytes)', () => {
        use();
        const specials = ['<a>', '<a><b>', 'ab', 'b>', '\u3000!'];
        const sp: EncoderSpec = { ...spec, vocabSize: 50_262, specials: specials.map((text, i) => ({ text, id: 50_257 + i })) };
        const enc = new NativeEncoder(sp);
        const ts = new BpeEncoder(sp);
        const rng = new Rng(5);
        try {
          for (let k = 0; k < 500; k++) {
            let s = '';
            for (let i = 0; i < 12; i++) s += ['<', 'a', '>', 'b', ' ', '\u3000', '!', '<a>', 'ab'][rng.intBelow(9)];
            const bytes = Buffer.from(s);
            assert.equal(firstDiff(enc.encodeUnit(bytes), tsEncode(ts, bytes)), -1, JSON.stringify(s));
            const c = countUnit(bytes, bytes.length, specials);
            const t = tsCount(bytes, specials);
            assert.deepEqual(c.stats, t.stats, JSON.stringify(s));
            assert.deepEqual(countsMap(c.counts), countsMap(t.counts), JSON.stringify(s));
          }
        } finally {
          enc.release();
        }
      });

      it('corpus.en: merges learned from native counts equal the CS336 reference (and the naive reference trainer)', () => {
        use();
        const bytes = readFileSync(fixturePath('cs336', 'fixtures', 'text', 'corpus.en'));
        const counter = new NativeCounter([EOT]);
        let counts: PretokenCounts;
        try {
          // In two units cut at a document boundary, merged as the trainer merges task results.
          const cut = bytes.indexOf(EOT, bytes.length >> 1) + EOT.length;
          const table = new PretokenTable();
          for (const part of [bytes.subarray(0, cut), bytes.subarray(cut)]) table.addAll(counter.count(part).counts);
          counts = table.toCounts();
        } finally {
          counter.release();
        }
        const learned = learnMerges(counts, 500 - 1 - 256);
        const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
        const merges: [string, string][] = [];
        for (let m = 0; m < learned.pairs.length / 2; m++) merges.push([hex(learned.tokenBytes[learned.pairs[2 * m]]), hex(learned.tokenBytes[learned.pairs[2 * m + 1]])]);
        const ref = JSON.parse(readFileSync(fixturePath('cs336', 'bpe', 'train_bpe_reference.json'), 'utf8')) as { merges: [string, string][] };
        assert.deepEqual(merges, ref.merges);
        if (isa === 'scalar') {
          const naive = referenceTrain(bytes.toString('utf8'), 500, [EOT]);
          assert.deepEqual(naive.merges.map(([a, b]) => [Buffer.from(a, 'latin1').toString('hex'), Buffer.from(b, 'latin1').toString('hex')]), ref.merges);
        }
      });
    });
  }

  it('createUnitEncoder / createUnitCounter: native and TypeScript engines give the same results', () => {
    const bytes = Buffer.from(sotuText({ maxBytes: 200_000 }));
    const native = createUnitEncoder(spec, 'auto');
    const ts = createUnitEncoder(spec, 'ts');
    assert.equal(native.engine, 'native');
    assert.equal(ts.engine, 'ts');
    const out = new ArrayBuffer(bytes.length * 2);
    const a = native.encodeUnit(bytes);
    const b = ts.encodeUnit(bytes, out);
    assert.equal(b.buffer, out);
    assert.ok(a instanceof Uint16Array && b instanceof Uint16Array);
    assert.equal(firstDiff(a, b), -1);
    native.release();
    ts.release();
    const cn = createUnitCounter([EOT]);
    const ct = createUnitCounter([EOT], 'ts');
    const rn = cn.count(bytes);
    const rt = ct.count(bytes);
    assert.deepEqual(rn.stats, rt.stats);
    assert.deepEqual(countsMap(rn.counts), countsMap(rt.counts));
    cn.release();
  });

  it('worker threads build their own encoders and counters from the spec (same ids as the main thread)', async () => {
    const text = `${sotuText({ maxBytes: 50_000 })}${EOT} ünïcödé 日本語 🙃`;
    const expected = Array.from(tsEncode(new BpeEncoder(spec), Buffer.from(text)));
    const file = new URL('./helpers/native-tokenizer-worker.ts', import.meta.url).pathname;
    const results = await Promise.all([0, 1].map(() => new Promise<{ available: { ok: boolean }; ids: number[]; stats: CountStats; unique: number }>((resolve, reject) => {
      const w = new Worker(`require(${JSON.stringify(file)})`, { eval: true, workerData: { spec, text }, execArgv: workerExecArgv() });
      w.once('message', (m) => { resolve(m); void w.terminate(); });
      w.once('error', reject);
    })));
    const t = tsCount(Buffer.from(text), [EOT]);
    for (const r of results) {
      assert.deepEqual(r.available, { ok: true });
      assert.equal(firstDiff(r.ids, expected), -1);
      assert.deepEqual(r.stats, t.stats);
      assert.equal(r.unique, t.counts.lens.length);
    }
  });

  it('bad input is a clear JS error, never a crash', () => {
    const enc = new NativeEncoder(spec);
    assert.throws(() => enc.encodeUnit('text' as unknown as Uint8Array), TypeError);
    assert.throws(() => enc.encodeUnit(new Uint16Array(4) as unknown as Uint8Array), TypeError);
    assert.throws(() => enc.encodeUnit(Buffer.from('x'), new Uint8Array(8) as unknown as ArrayBuffer), TypeError);
    assert.deepEqual(Array.from(enc.encodeUnit(new Uint8Array(0))), []);
    enc.release();
    enc.release();
    assert.throws(() => enc.encodeUnit(Buffer.from('x')), /released/);
    // A byte without a token is the same user error as in the TS path.
    const byteToId = spec.byteToId.slice();
    byteToId[0x41] = -1;
    const holes = new NativeEncoder({ ...spec, byteToId });
    assert.throws(() => holes.encodeUnit(Buffer.from('xyz A')), (e) => e instanceof UserError && /byte 0x41 has no token/.test(e.message));
    assert.throws(() => new BpeEncoder({ ...spec, byteToId }).encodeBytes(Buffer.from('xyz A')), (e) => e instanceof UserError && /byte 0x41 has no token/.test(e.message));
    holes.release();
    assert.throws(() => new NativeEncoder({ ...spec, specials: [{ text: '', id: 1 }] }), UserError);
    assert.throws(() => setNativeTokenizerIsa('sse9' as NativeTokenizerIsa), TypeError);
    const counter = new NativeCounter([EOT]);
    assert.throws(() => counter.count(Buffer.from('abc'), 4), RangeError);
    counter.release();
    assert.throws(() => counter.count(Buffer.from('abc')), /released/);
  });
});
