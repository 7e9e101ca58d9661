/**
 * The native pretoken tally (`NativeTally`, C++ in
 * `native/src/tokenizer/tok_tally.cc`) against the TypeScript
 * `PretokenTable` it replaces in BPE training's tally sink: the same sums
 * on fuzzed count sets (duplicates across adds, long and non-UTF-8 byte
 * strings, keys that differ only past their first 16 bytes or in trailing
 * zero bytes, huge counts, many units, table growth); clear errors on bad
 * input that leave the tally as it was; handles bound to their thread; the
 * merge trainer's indifference to entry order; and train-bpe with the
 * native core (native tally) writing the same merges and vocab as with the
 * TypeScript core, on real text. Skips (with the reason) only when the
 * addon is not built; with CI=true that fails instead.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { trainBpePipeline } from '../pipelines/train-bpe.ts';
import { NATIVE_ADDON_PATH, loadNative } from '../src/backends/native/addon.ts';
import { tallyCounts, type UnitCounts } from '../src/stages/count-pretokens.ts';
import { learnMerges } from '../src/tokenizer/bpe-learn-merges.ts';
import { NativeTally, countUnit, createUnitTally, nativeTallyAvailable, nativeTokenizerAvailable } from '../src/tokenizer/native-tokenizer.ts';
import { PretokenTable, countChunk, emptyCountStats, type PretokenCounts } from '../src/tokenizer/pretoken-count.ts';
import { SpecialMatcher } from '../src/tokenizer/special-matcher.ts';
import { Rng } from '../src/util/rng.ts';
import { runInProcess } from './helpers/in-process.ts';
import { sotuText } from './helpers/sotu.ts';
import { skipWithoutNative } from './helpers/native-skip.ts';

const EOT = '<|endoftext|>';

const skip = skipWithoutNative('test/native-tally.test.ts', 'native tally', () => {
  const a = nativeTokenizerAvailable();
  return !a.ok ? a.reason : !nativeTallyAvailable() ? 'the addon was built without the tally (npm run build:native)' : null;
});

const tmp = mkdtempSync(join(tmpdir(), 'lmpipe-native-tally-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A count set from [bytes, count] entries. */
function countSet(entries: ReadonlyArray<readonly [Uint8Array, number]>): PretokenCounts {
  const bytes = new Uint8Array(entries.reduce((n, [b]) => n + b.length, 0));
  const lens = new Int32Array(entries.length);
  const counts = new Float64Array(entries.length);
  let o = 0;
  entries.forEach(([b, c], k) => {
    bytes.set(b, o);
    o += b.length;
    lens[k] = b.length;
    counts[k] = c;
  });
  return { bytes, lens, counts };
}

/** Entries as a map keyed by the bytes in hex (order-free comparison); asserts no key twice. */
function asMap(c: PretokenCounts): Map<string, number> {
  const m = new Map<string, number>();
  let o = 0;
  for (let k = 0; k < c.lens.length; k++) {
    const key = Buffer.from(c.bytes.subarray(o, o + c.lens[k])).toString('hex');
    assert.ok(!m.has(key), `key ${key} appears twice`);
    m.set(key, c.counts[k]);
    o += c.lens[k];
  }
  assert.equal(o, c.bytes.length, 'lengths add up to the bytes');
  return m;
}

function tsSum(sets: readonly PretokenCounts[]): PretokenCounts {
  const t = new PretokenTable(16);
  for (const s of sets) t.addAll(s);
  return t.toCounts();
}

function nativeSum(sets: readonly PretokenCounts[]): PretokenCounts {
  const t = new NativeTally();
  for (const s of sets) t.add(s);
  const out = t.take();
  t.release();
  return out;
}

/** A pool of keys built to collide in interesting ways. */
function keyPool(rng: Rng, n: number): Uint8Array[] {
  const pool: Uint8Array[] = [];
  const randomBytes = (len: number, alphabet: number): Uint8Array => {
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) b[i] = alphabet === 256 ? rng.intBelow(256) : 0x61 + rng.intBelow(alphabet);
    return b;
  };
  const long = randomBytes(5000, 256);
  for (let k = 0; k < n; k++) {
    const kind = rng.intBelow(8);
    if (kind === 0) pool.push(randomBytes(1 + rng.intBelow(3), 4)); // short, heavy overlap
    else if (kind === 1) pool.push(randomBytes(1 + rng.intBelow(24), 256)); // any bytes (non-UTF-8)
    else if (kind === 2) {
      // Same first 16 bytes, differing later (the arena comparison).
      const b = new Uint8Array(17 + rng.intBelow(40));
      b.set(long.subarray(0, 16));
      b.set(randomBytes(b.length - 16, 2), 16);
      pool.push(b);
    } else if (kind === 3) {
      // Trailing zero bytes: "ab", "ab\0", "ab\0\0" ... must stay distinct (keys are zero padded).
      const b = new Uint8Array(1 + rng.intBelow(20));
      b[0] = 0x61 + rng.intBelow(2);
      pool.push(b);
    } else if (kind === 4) pool.push(long.subarray(0, 1 + rng.intBelow(long.length))); // prefixes of one long string
    else if (kind === 5) pool.push(new TextEncoder().encode(` ${'héllo wörld 日本 🙃'.slice(0, 1 + rng.intBelow(15))}`));
    else pool.push(randomBytes(2 + rng.intBelow(10), 26));
  }
  return pool;
}

describe('native tally', { skip }, () => {
  it('equals PretokenTable on fuzzed count sets (duplicates across adds, long and non-UTF-8 keys, huge counts)', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const rng = new Rng(seed);
      const pool = keyPool(rng, 200 + rng.intBelow(2000));
      const sets: PretokenCounts[] = [];
      const units = 1 + rng.intBelow(60);
      for (let u = 0; u < units; u++) {
        // A unit's own table has each key once (as the counters return them).
        const seen = new Set<number>();
        const entries: Array<[Uint8Array, number]> = [];
        const n = rng.intBelow(400);
        for (let k = 0; k < n; k++) {
          const i = rng.intBelow(pool.length);
          if (seen.has(i)) continue;
          seen.add(i);
          const big = rng.intBelow(20) === 0;
          entries.push([pool[i], big ? rng.intBelow(2 ** 30) * 1024 : rng.intBelow(5)]);
        }
        sets.push(countSet(entries));
      }
      const want = asMap(tsSum(sets));
      const got = asMap(nativeSum(sets));
      assert.equal(got.size, want.size, `seed ${seed}: unique keys`);
      assert.deepEqual(got, want, `seed ${seed}`);
    }
  });

  it('sums keys repeated within one add, and counts past 2^32 exactly', () => {
    const a = Uint8Array.of(1, 2, 3);
    const t = new NativeTally();
    t.add(countSet([[a, 5], [a, 7], [Uint8Array.of(0xff), 2 ** 40]]));
    t.add(countSet([[Uint8Array.of(0xff), 2 ** 40 + 3]]));
    assert.deepEqual(asMap(t.take()), new Map([['010203', 12], ['ff', 2 ** 41 + 3]]));
    t.release();
  });

  it('grows through many unique keys and many units (counts from the native counter on real text)', () => {
    const text = Buffer.from(sotuText({ maxBytes: 2_000_000 }));
    const sets: PretokenCounts[] = [];
    const unit = 100_000;
    for (let o = 0; o < text.length; o += unit) sets.push(countUnit(text.subarray(o, Math.min(text.length, o + unit)), Math.min(unit, text.length - o), [EOT]).counts);
    // And 200,000 distinct numbers-as-keys in one add.
    sets.push(countSet(Array.from({ length: 200_000 }, (_, i) => [new TextEncoder().encode(`#${i}`), i % 3] as const)));
    assert.ok(sets.length >= 20);
    const want = asMap(tsSum(sets));
    const got = asMap(nativeSum(sets));
    assert.ok(want.size > 200_000);
    assert.deepEqual(got, want);
  });

  it('take() empties the tally, which stays usable; size counts unique keys', () => {
    const t = new NativeTally();
    assert.equal(t.size, 0);
    assert.deepEqual(t.take(), { bytes: new Uint8Array(0), lens: new Int32Array(0), counts: new Float64Array(0) });
    t.add(countSet([[Uint8Array.of(1), 1], [Uint8Array.of(2), 1]]));
    t.add(countSet([[Uint8Array.of(2), 1]]));
    assert.equal(t.size, 2);
    assert.deepEqual(asMap(t.take()), new Map([['01', 1], ['02', 2]]));
    assert.equal(t.size, 0);
    t.add(countSet([[Uint8Array.of(3), 4]]));
    assert.deepEqual(asMap(t.take()), new Map([['03', 4]]));
    t.release();
    t.release();
    assert.throws(() => t.add(countSet([])), /released/);
    assert.throws(() => t.take(), /released/);
  });

  it('bad input is a TypeError that leaves the tally as it was; a released handle is an error', () => {
    const a = loadNative();
    const h = a.tokTallyCreate();
    const good = countSet([[Uint8Array.of(9, 9), 1]]);
    a.tokTallyAdd(h, good.bytes, good.lens, good.counts);
    const bad: Array<[string, () => unknown]> = [
      ['bytes not a Uint8Array', () => a.tokTallyAdd(h, new Int8Array(2) as unknown as Uint8Array, Int32Array.of(2), Float64Array.of(1))],
      ['lens not an Int32Array', () => a.tokTallyAdd(h, new Uint8Array(2), Uint32Array.of(2) as unknown as Int32Array, Float64Array.of(1))],
      ['counts not a Float64Array', () => a.tokTallyAdd(h, new Uint8Array(2), Int32Array.of(2), Float32Array.of(1) as unknown as Float64Array)],
      ['missing arguments', () => (a.tokTallyAdd as unknown as (h: number) => number)(h)],
      ['one count per length', () => a.tokTallyAdd(h, new Uint8Array(2), Int32Array.of(1, 1), Float64Array.of(1))],
      ['lengths add up', () => a.tokTallyAdd(h, new Uint8Array(3), Int32Array.of(1, 1), Float64Array.of(1, 1))],
      ['lengths past the bytes', () => a.tokTallyAdd(h, new Uint8Array(1), Int32Array.of(1, 1), Float64Array.of(1, 1))],
      ['an empty pretoken', () => a.tokTallyAdd(h, new Uint8Array(1), Int32Array.of(1, 0), Float64Array.of(1, 1))],
      ['a negative length', () => a.tokTallyAdd(h, new Uint8Array(1), Int32Array.of(2, -1), Float64Array.of(1, 1))],
      ['a fractional count', () => a.tokTallyAdd(h, new Uint8Array(1), Int32Array.of(1), Float64Array.of(0.5))],
      ['a negative count', () => a.tokTallyAdd(h, new Uint8Array(1), Int32Array.of(1), Float64Array.of(-1))],
      ['a NaN count', () => a.tokTallyAdd(h, new Uint8Array(1), Int32Array.of(1), Float64Array.of(NaN))],
      ['a count past 2^53', () => a.tokTallyAdd(h, new Uint8Array(1), Int32Array.of(1), Float64Array.of(2 ** 54))],
      ['a handle that is not a number', () => a.tokTallyAdd('1' as unknown as number, good.bytes, good.lens, good.counts)],
      ['an unknown handle', () => a.tokTallyAdd(h + 1000, good.bytes, good.lens, good.counts)],
      ['handle 0', () => a.tokTallySize(0)],
      ['a fractional handle', () => a.tokTallyTake(h + 0.5)],
    ];
    for (const [what, f] of bad) assert.throws(f, (e) => e instanceof TypeError && /lmpipe native tokTally/.test((e as Error).message), what);
    assert.equal(a.tokTallySize(h), 1);
    assert.deepEqual(asMap(a.tokTallyTake(h)), new Map([['0909', 1]]));
    a.tokTallyRelease(h);
    assert.throws(() => a.tokTallyAdd(h, good.bytes, good.lens, good.counts), (e) => e instanceof Error && /released/.test((e as Error).message));
    assert.throws(() => a.tokTallyTake(h), /released/);
    a.tokTallyRelease(h);
  });

  it('a handle belongs to the thread that made it', async () => {
    const h = loadNative().tokTallyCreate();
    const src = `
      const { parentPort, workerData } = require('node:worker_threads');
      const a = require(workerData.path);
      const out = [];
      try { a.tokTallySize(workerData.h); out.push('no error'); } catch (e) { out.push(e.name + ': ' + e.message); }
      const own = a.tokTallyCreate();
      a.tokTallyAdd(own, Uint8Array.of(7), Int32Array.of(1), Float64Array.of(3));
      out.push(JSON.stringify(Array.from(a.tokTallyTake(own).counts)));
      a.tokTallyRelease(own);
      parentPort.postMessage(out);`;
    const out = await new Promise<string[]>((resolve, reject) => {
      const w = new Worker(src, { eval: true, workerData: { path: NATIVE_ADDON_PATH, h: h + 5 } });
      w.once('message', (m) => { resolve(m as string[]); void w.terminate(); });
      w.once('error', reject);
    });
    assert.match(out[0], /TypeError: .*not a tally handle of this thread/);
    assert.equal(out[1], '[3]');
    loadNative().tokTallyRelease(h);
  });

  it('the tally sink adds natively what the native core counted, and equals the TypeScript table', async () => {
    const text = Buffer.from(sotuText({ maxBytes: 600_000 }));
    const units: UnitCounts[] = [];
    for (let o = 0; o < text.length; o += 50_000) {
      const r = countUnit(text.subarray(o, Math.min(text.length, o + 50_000)), Math.min(50_000, text.length - o), [EOT]);
      units.push({ ...r, continues: false, engine: 'native' });
    }
    async function* source(): AsyncGenerator<UnitCounts> { yield* units; }
    const ctx = { signal: new AbortController().signal, log: () => {}, warn: () => {}, count: () => {} };
    const native = await tallyCounts().consume(source(), ctx);
    const ts = await tallyCounts(undefined, { engine: 'ts' }).consume(source(), ctx);
    assert.deepEqual(native.stats, ts.stats);
    assert.equal(native.units, units.length);
    assert.deepEqual(asMap(native.counts), asMap(ts.counts));
    assert.equal(createUnitTally('native').engine, 'native');
    assert.equal(createUnitTally('ts').engine, 'ts');
    // An empty stream gives an empty count set.
    const empty = await tallyCounts().consume((async function* (): AsyncGenerator<UnitCounts> {})(), ctx);
    assert.deepEqual(empty.stats, emptyCountStats());
    assert.equal(empty.counts.lens.length, 0);
  });
});

describe('merges do not depend on the order of the counted pretokens', () => {
  it('learnMerges gives the same merges for shuffled and reversed entries', () => {
    const text = Buffer.from(sotuText({ maxBytes: 400_000 }));
    const t = new PretokenTable();
    countChunk(text, text.length, new SpecialMatcher([EOT]), t, emptyCountStats());
    const base = t.toCounts();
    const entries: Array<[Uint8Array, number]> = [];
    for (let k = 0, o = 0; k < base.lens.length; o += base.lens[k], k++) entries.push([base.bytes.subarray(o, o + base.lens[k]), base.counts[k]]);
    const rng = new Rng(7);
    const shuffled = entries.slice();
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = rng.intBelow(i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    const want = learnMerges(base, 600);
    for (const order of [shuffled, entries.slice().reverse()]) {
      const got = learnMerges(countSet(order), 600);
      assert.deepEqual(Array.from(got.pairCounts), Array.from(want.pairCounts));
      assert.deepEqual(got.tokenBytes.map((b) => Buffer.from(b).toString('hex')), want.tokenBytes.map((b) => Buffer.from(b).toString('hex')));
    }
  });
});

describe('train-bpe: the native core (native tally) writes what the TypeScript core writes', { skip }, () => {
  it('on SOTU text, 2 workers, small chunks', async () => {
    const input = join(tmp, 'sotu.txt');
    writeFileSync(input, sotuText({ maxBytes: 4_000_000 }));
    const dirs: Record<string, string> = {};
    for (const engine of ['native', 'ts']) {
      const out = join(tmp, `tok-${engine}`);
      const r = await runInProcess(trainBpePipeline, ['-i', input, '--vocab-size', '2000', '--engine', engine, '--workers', '2', '--chunk-mb', '0.25', '-o', out, '--quiet']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal((r.summary as { engine: string }).engine, engine);
      dirs[engine] = out;
    }
    for (const f of ['merges.txt', 'vocab.json']) {
      assert.ok(readFileSync(join(dirs.native, f)).equals(readFileSync(join(dirs.ts, f))), `${f} differs between the engines`);
    }
  });
});
