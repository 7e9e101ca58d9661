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
