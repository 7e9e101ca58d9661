import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveInputs, readInputs } from '../src/stream/read.ts';
import { rechunk } from '../src/stream/rechunk.ts';
import { OrderedPool } from '../src/stream/pool.ts';
import { UserError } from '../src/pipeline/errors.ts';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test('resolveInputs expands globs in order and rejects bad patterns', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-read-'));
  mkdirSync(join(dir, 'c'));
  writeFileSync(join(dir, 'c', 'b.txt'), 'bb');
  writeFileSync(join(dir, 'c', 'a.txt'), 'a');
  writeFileSync(join(dir, 'z.txt'), 'zzz');
  const files = await resolveInputs(['z.txt', 'c/*.txt', 'c/a.txt'], dir);
  assert.deepEqual(files.map((f) => [f.path, f.size]), [[join(dir, 'z.txt'), 3], [join(dir, 'c/a.txt'), 1], [join(dir, 'c/b.txt'), 2]]);
  await assert.rejects(resolveInputs(['nothing/*.txt'], dir), (e: unknown) => e instanceof UserError && /matches no file/.test(e.message));
  await assert.rejects(resolveInputs([join(dir, 'missing.txt')], dir), (e: unknown) => e instanceof UserError && /no such file/.test(e.message));
  await assert.rejects(resolveInputs([join(dir, 'c')], dir), (e: unknown) => e instanceof UserError && /is a directory/.test(e.message));
});

test('readInputs streams whole files in bounded chunks', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-read-'));
  const a = Buffer.from('x'.repeat(1000) + 'é'.repeat(300));
  writeFileSync(join(dir, 'a.txt'), a);
  writeFileSync(join(dir, 'b.txt'), '');
  const files = await resolveInputs([join(dir, 'a.txt'), join(dir, 'b.txt')]);
  const chunks = await collect(readInputs(files, 64));
  assert.ok(chunks.every((c) => c.data.length <= 64));
  const aChunks = chunks.filter((c) => c.file.endsWith('a.txt'));
  assert.deepEqual(Buffer.concat(aChunks.map((c) => c.data)), a);
  assert.equal(aChunks.at(-1)?.last, true);
  assert.equal(chunks.filter((c) => c.last).length, 2);
});

test('rechunk cuts only where findCut allows and loses nothing', async () => {
  const text = Buffer.from('alpha beta|gamma delta|epsilon|zeta eta theta|'.repeat(50));
  const src = async function* () {
    for (let i = 0; i < text.length; i += 7) {
      yield { file: 'f', offset: i, data: text.subarray(i, Math.min(text.length, i + 7)), last: false };
    }
    yield { file: 'f', offset: text.length, data: Buffer.alloc(0), last: true };
  };
  const cutAfterBar = (b: Buffer): number => b.lastIndexOf(0x7c) + 1;
  const units = await collect(rechunk({ findCut: cutAfterBar })(src()));
  assert.deepEqual(Buffer.concat(units.map((u) => u.data)), text);
  units.forEach((u, i) => {
    assert.equal(u.seq, i);
    assert.equal(text.subarray(u.offset, u.offset + u.data.length).equals(u.data), true);
    if (i < units.length - 1) assert.equal(u.data.at(-1), 0x7c);
  });
});

test('rechunk forces a cut past maxCarryBytes and reports it', async () => {
  const forced: number[] = [];
  const src = async function* () {
    for (let i = 0; i < 10; i++) yield { file: 'f', offset: i * 10, data: Buffer.alloc(10, 97), last: false };
    yield { file: 'f', offset: 100, data: Buffer.alloc(0), last: true };
  };
  const units = await collect(rechunk({ findCut: () => 0, maxCarryBytes: 25, onForcedCut: (_f, o) => forced.push(o) })(src()));
  assert.equal(Buffer.concat(units.map((u) => u.data)).length, 100);
  assert.ok(forced.length > 0);
  assert.ok(units.every((u) => u.data.length <= 30));
});

test('OrderedPool keeps order with out-of-order completion and bounds the window', async () => {
  let inflight = 0;
  let peak = 0;
  const pool = new OrderedPool<number, number>({
    filename: 'unused',
    workers: 0,
    window: 3,
    inline: async (x) => {
      inflight++;
      peak = Math.max(peak, inflight);
      await new Promise((r) => setTimeout(r, (x * 7) % 5));
      inflight--;
      return x * x;
    },
  });
  const out = await collect(pool.map((function* () { for (let i = 0; i < 40; i++) yield i; })()));
  assert.deepEqual(out, Array.from({ length: 40 }, (_, i) => i * i));
  assert.ok(peak <= 3, `peak ${peak}`);
  await pool.close();
});

test('OrderedPool runs a real worker module on threads', async () => {
  const pool = new OrderedPool<{ text: string }, number>({ filename: new URL('./fixtures/length-worker.ts', import.meta.url), workers: 2 });
  const input = Array.from({ length: 20 }, (_, i) => ({ text: 'ab'.repeat(i) }));
  const out = await collect(pool.map(input));
  assert.deepEqual(out, input.map((x) => Buffer.byteLength(x.text)));
  await pool.close();
});

test('composeStages wires transforms and the pool with stream-chain, in order', async () => {
  const { composeStages } = await import('../src/stream/compose.ts');
  const pool = new OrderedPool<number, number>({ filename: 'unused', workers: 0, window: 4, inline: async (x) => { await new Promise((r) => setTimeout(r, x % 3)); return x + 1; } });
  const double = async function* (src: AsyncIterable<unknown>) { for await (const x of src) { yield (x as number) * 2; } };
  let pulled = 0;
  const source = (function* () { for (let i = 0; i < 200; i++) { pulled++; yield i; } })();
  const out: number[] = [];
  for await (const x of composeStages<number>(source, [double, pool.stream()])) {
    out.push(x);
    if (out.length === 5) assert.ok(pulled < 100, `source should be pulled lazily, pulled ${pulled}`);
  }
  assert.deepEqual(out, Array.from({ length: 200 }, (_, i) => 2 * i + 1));
  await pool.close();
});
