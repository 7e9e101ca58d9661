/**
 * The pretoken count table against a Map oracle: random byte strings of all
 * lengths (short ones live in the slot, long ones in the arena), growth
 * through many rehashes, counts beyond 2^31, and merging compact counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PretokenTable, type PretokenCounts } from '../src/tokenizer/pretoken-count.ts';
import { rng } from './tokenizer-helpers.ts';

function asMap(c: PretokenCounts): Map<string, number> {
  const m = new Map<string, number>();
  let o = 0;
  for (let k = 0; k < c.lens.length; k++) {
    const key = Buffer.from(c.bytes.subarray(o, o + c.lens[k])).toString('hex');
    assert.ok(!m.has(key), `duplicate entry ${key}`);
    m.set(key, c.counts[k]);
    o += c.lens[k];
  }
  assert.equal(o, c.bytes.length);
  return m;
}

test('counts equal a Map oracle for strings of every length, across rehashes', () => {
  const r = rng(11);
  // Few distinct bytes make prefixes collide (same first 8 bytes, zero bytes).
  const alphabet = [0, 1, 0x61, 0x62, 0x20, 0xff];
  const pool: Uint8Array[] = [];
  for (let i = 0; i < 20000; i++) {
    const len = r() < 0.8 ? 1 + Math.floor(r() * 10) : 1 + Math.floor(r() * 300);
    const b = new Uint8Array(len);
    for (let j = 0; j < len; j++) b[j] = alphabet[Math.floor(r() * alphabet.length)];
    pool.push(b);
  }
  const table = new PretokenTable(16);
  const oracle = new Map<string, number>();
  // A stream of pretokens in one buffer, counted by addRun in batches.
  const picks = Array.from({ length: 100000 }, () => pool[Math.floor(r() ** 2 * pool.length)]);
  const stream = Buffer.concat(picks);
  const ends = new Int32Array(picks.length);
  let o = 0;
  picks.forEach((p, i) => { o += p.length; ends[i] = o; });
  for (let i = 0, s = 0; i < picks.length; i += 777) {
    const n = Math.min(777, picks.length - i);
    table.addRun(stream, s, ends.subarray(i, i + n), n);
    s = ends[i + n - 1];
  }
  for (const p of picks) {
    const k = Buffer.from(p).toString('hex');
    oracle.set(k, (oracle.get(k) ?? 0) + 1);
  }
  assert.equal(table.size, oracle.size);
  assert.deepEqual(asMap(table.toCounts()), oracle);
});

test('counts beyond the int32 range stay exact; addAll merges compact counts', () => {
  const table = new PretokenTable();
  const the = Buffer.from(' the');
  const long = Buffer.from(' internationalization');
  table.add(the, 0, the.length, 2 ** 30 - 1);
  table.add(the, 0, the.length, 1);
  table.add(the, 0, the.length, 3e9);
  table.add(long, 0, long.length, 2 ** 31 + 7);
  const other = new PretokenTable();
  other.add(the, 0, the.length, 5);
  other.add(long, 0, long.length, 1);
  table.addAll(other.toCounts());
  assert.deepEqual(asMap(table.toCounts()), new Map([
    [the.toString('hex'), 2 ** 30 + 3e9 + 5],
    [long.toString('hex'), 2 ** 31 + 8],
  ]));
});

test('a count file holds its records in unsigned byte order, a key before the longer keys it begins (Buffer.compare as the oracle)', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { CountsReader, countsHeader, saveCounts } = await import('../src/tokenizer/counts-file.ts');
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-counts-order-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = rng(11);
  const keys = new Map<string, Uint8Array>();
  const add = (k: Uint8Array): void => { keys.set(Buffer.from(k).toString('hex'), k); };
  for (const s of ['a', 'ab', 'abc', 'abd', 'b', ' the', ' th', '\u00e9', '\u4e00']) add(Buffer.from(s));
  for (const b of [0x00, 0x7f, 0x80, 0xff]) { add(Uint8Array.of(b)); add(Uint8Array.of(b, 0)); add(Uint8Array.of(b, 0xff)); }
  for (let i = 0; i < 3000; i++) add(Uint8Array.from({ length: 1 + Math.floor(r() * 12) }, () => (r() < 0.5 ? 0x61 + Math.floor(r() * 3) : Math.floor(r() * 256))));
  const list = [...keys.values()];
  const lens = Int32Array.from(list, (k) => k.length);
  const counts: PretokenCounts = { bytes: Buffer.concat(list), lens, counts: Float64Array.from(list, (_, i) => i + 1) };
  const path = join(dir, 'x.counts');
  saveCounts(path, counts, countsHeader([], [], list.length, { bytes: 0, pretokens: 0, pieces: 0, specials: 0, invalidUtf8: 0, documents: 0 }));
  const reader = new CountsReader(path);
  const got: Buffer[] = [];
  while (reader.next()) got.push(Buffer.from(reader.key));
  reader.close();
  const want = list.map((k) => Buffer.from(k)).sort(Buffer.compare);
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) assert.ok(got[i].equals(want[i]), `record ${i}: ${got[i].toString('hex')} vs ${want[i].toString('hex')}`);
  // The TypeScript sort (the reference, and the path without the addon) gives the same order as the native one.
  const { keyOrder } = await import('../src/tokenizer/counts-file.ts');
  assert.deepEqual(Array.from(keyOrder(counts, 'ts').order), Array.from(keyOrder(counts).order));
  const { nativeSortKeys, nativeTokenizerAvailable } = await import('../src/tokenizer/native-tokenizer.ts');
  if (nativeTokenizerAvailable().ok) {
    assert.ok(nativeSortKeys(counts.bytes, counts.lens) !== null, 'the addon sorts the keys');
    const { loadNative } = await import('../src/backends/native/addon.ts');
    const a = loadNative();
    assert.throws(() => a.tokSortKeys(Uint8Array.of(1, 2), Int32Array.of(1, 2), new Int32Array(2)), /tokSortKeys: argument 1 holds lengths that do not add up/);
    assert.throws(() => a.tokSortKeys(Uint8Array.of(1, 2), Int32Array.of(1, 1), new Int32Array(1)), /tokSortKeys: argument 2 must have one element per length/);
  }
});
