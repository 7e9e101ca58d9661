import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { byteRange, resolveInputs, readInputs, textSizeEstimate } from '../src/stages/read-inputs.ts';
import { encodeWorkers } from '../src/stages/encode-units.ts';
import { countingWorkers } from '../src/tokenizer/bpe-train.ts';
import { cutUnits } from '../src/stages/cut.ts';
import { ownedBytes, type Unit } from '../src/stages/items.ts';
import { OrderedPool, threadStartWarning } from '../src/pipeline/worker-pool.ts';
import { UserError } from '../src/pipeline/errors.ts';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test('resolveInputs expands globs in order and rejects bad patterns', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-read-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
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

test('readInputs streams whole files in bounded chunks', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-read-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
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

test('readInputs reads only a byte range of a file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-read-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => 97 + (i % 26)));
  writeFileSync(join(dir, 'a.txt'), data);
  const [file] = await resolveInputs([join(dir, 'a.txt')]);
  for (const [start, end, chunk] of [[0, 5000, 64], [10, 20, 4], [1234, 4321, 1000], [4999, 9999, 10], [3000, 3000, 10]]) {
    const chunks = await collect(readInputs([byteRange(file, start, end)], chunk));
    assert.deepEqual(Buffer.concat(chunks.map((c) => c.data)), data.subarray(start, Math.min(end, 5000)), `range ${start}-${end}`);
    assert.equal(chunks[0].offset, Math.min(start, 5000));
    assert.equal(chunks.at(-1)?.last, true);
    assert.equal(chunks.filter((c) => c.last).length, 1);
  }
  assert.throws(() => byteRange({ path: '-', size: -1 }, 0, 10), /stdin/);
});

/** Units of `text` read in pieces of `piece` bytes, as one input; each owns its buffer (items.ts), some with room in front. */
async function* pieces(text: Buffer, piece: number): AsyncGenerator<Unit> {
  let seq = 0;
  for (let i = 0; i < text.length; i += piece) {
    const part = text.subarray(i, Math.min(text.length, i + piece));
    const room = seq % 3 === 0 ? 0 : 64;
    const data = ownedBytes(room + part.length).subarray(room);
    data.set(part);
    yield { seq: seq++, file: 'f', offset: i, data, last: false };
  }
  yield { seq: seq++, file: 'f', offset: text.length, data: Buffer.alloc(0), last: true };
}

const ctx = { signal: new AbortController().signal, log: () => {}, warn: () => {}, count: () => {} };

test('encodeWorkers: no threads below the size where they pay off, one per core above it, never exactly one beside other cores', () => {
  const MB = 1 << 20;
  for (const slow of [true, false]) {
    assert.equal(encodeWorkers(50 * MB, 2, slow), 0);
    assert.equal(encodeWorkers(1024 * MB, 2, slow), 2);
    assert.equal(encodeWorkers(-1, 2, slow), 2, 'stdin: size unknown, one per core');
    assert.equal(encodeWorkers(1024 * MB, 1, slow), 0, 'one core: the main thread alone');
    assert.equal(encodeWorkers(64 * 1024 * MB, 8, slow), 8);
    for (let mb = 0; mb <= 2048; mb += 16) assert.notEqual(encodeWorkers(mb * MB, 4, slow), 1, `${mb} MB on 4 cores`);
  }
  // Under tsx a thread costs more start-up, so threads start later.
  assert.equal(encodeWorkers(200 * MB, 2, true), 0);
  assert.equal(encodeWorkers(200 * MB, 2, false), 2);
  // Counting: the same mechanism, its own measurements; explicit counts are kept, one unit gets no thread.
  for (const slow of [true, false]) {
    assert.equal(countingWorkers('auto', 50 * MB, 8 * MB, slow), 0);
    assert.equal(countingWorkers('auto', 4096 * MB, 8 * MB, slow), Math.min(availableParallelism(), 4096 / (slow ? 200 : 80)) | 0);
    assert.equal(countingWorkers(3, 4096 * MB, 8 * MB, slow), 3);
    assert.equal(countingWorkers(3, 4 * MB, 8 * MB, slow), 0);
  }
  // Compressed inputs count as the text they hold (about 4x).
  assert.equal(textSizeEstimate([{ path: 'a.txt', size: 100 }, { path: 'b.jsonl.zst', size: 100 }, { path: 'c.gz', size: 10 }]), 100 + 400 + 40);
  assert.equal(textSizeEstimate([{ path: 'a.txt', size: 100 }, { path: '-', size: -1 }]), -1);
});

test('the cut stage cuts only where findCut allows, loses nothing, and owns its buffers', async () => {
  const text = Buffer.from('alpha beta|gamma delta|epsilon|zeta eta theta|'.repeat(50));
  const cutAfterBar = (b: Uint8Array, n: number) => ({ at: Buffer.from(b.buffer, b.byteOffset, n).lastIndexOf(0x7c) + 1, continues: false });
  for (const [piece, unitBytes] of [[7, 16], [1000, 64], [1, 1], [5000, 5000]]) {
    const stage = cutUnits({ findCut: cutAfterBar, unitBytes, maxHeldBytes: 1 << 20, purpose: 'test it' });
    const units = await collect(stage.run(pieces(text, piece), ctx));
    assert.deepEqual(Buffer.concat(units.map((u) => u.data)), text);
    const buffers = new Set(units.map((u) => u.data.buffer));
    assert.equal(buffers.size, units.length, 'each unit has a buffer of its own');
    units.forEach((u, i) => {
      assert.equal(u.seq, i);
      assert.equal(text.subarray(u.offset, u.offset + u.data.length).equals(u.data), true);
      if (i < units.length - 1) assert.equal(u.data.at(-1), 0x7c);
      assert.equal(u.last, i === units.length - 1);
    });
  }
});

test('the cut stage refuses a stretch without a cut past maxHeldBytes, naming the input and offset', async () => {
  const text = Buffer.from('ab|' + 'a'.repeat(100));
  const findCut = (b: Uint8Array, n: number) => ({ at: Buffer.from(b.buffer, b.byteOffset, n).lastIndexOf(0x7c) + 1, continues: false });
  const stage = cutUnits({ findCut, unitBytes: 4, maxHeldBytes: 25, purpose: 'test it' });
  await assert.rejects(collect(stage.run(pieces(text, 10), ctx)), (e: unknown) => e instanceof UserError && /^f: from byte 3, more than/.test(e.message) && /test it/.test(e.message));
  // Units larger than the limit: the stretch sits inside what would be one unit, with cuts on both sides; still refused.
  const inside = Buffer.from('ab|' + 'a'.repeat(100) + '|cd|' + 'x|'.repeat(200));
  const big = cutUnits({ findCut, unitBytes: 1000, maxHeldBytes: 25, purpose: 'test it' });
  await assert.rejects(collect(big.run(pieces(inside, 64), ctx)), (e: unknown) => e instanceof UserError && /^f: from byte 3, more than/.test(e.message));
  // Within the limit it is kept whole and nothing is lost.
  const fine = Buffer.from('ab|' + 'a'.repeat(20) + '|cd|' + 'x|'.repeat(200));
  const units = (await collect(cutUnits({ findCut, unitBytes: 1000, maxHeldBytes: 25, purpose: 'test it' }).run(pieces(fine, 64), ctx))) as Unit[];
  assert.ok(units.every((u) => u.data.length <= 25));
  assert.deepEqual(Buffer.concat(units.map((u) => u.data)), fine);
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

/** A pool whose threads (and, helping, the calling thread) return each item's UTF-8 length. */
function lengthPool(worker: string, workers: number, helps: true | 'while-starting'): OrderedPool<{ text: string }, number> {
  return new OrderedPool<{ text: string }, number>({
    filename: new URL(`./fixtures/${worker}`, import.meta.url),
    workers,
    inline: (x) => Buffer.byteLength(x.text),
    mainThreadHelps: helps,
    probe: () => ({ text: '' }),
  });
}

test('OrderedPool with mainThreadHelps runs items on the calling thread until a thread has started, keeping order', async () => {
  const pool = lengthPool('length-worker.ts', 1, true);
  const input = Array.from({ length: 400 }, (_, i) => ({ text: 'é'.repeat(i % 37) }));
  const out = await collect(pool.map(input));
  assert.deepEqual(out, input.map((x) => Buffer.byteLength(x.text)));
  assert.ok(pool.itemsOnMainThread > 0, 'the calling thread helped while the thread started');
  await pool.close();
});

test("OrderedPool with mainThreadHelps 'while-starting': the calling thread helps only until every thread has started, even with a core to spare", async () => {
  const make = (helps: true | 'while-starting') => lengthPool('length-worker.ts', 1, helps);
  const input = Array.from({ length: 400 }, (_, i) => ({ text: 'é'.repeat(i % 37) }));
  // Before the thread has started, the calling thread takes the items.
  const cold = make('while-starting');
  assert.deepEqual(await collect(cold.map(input)), input.map((x) => Buffer.byteLength(x.text)));
  assert.ok(cold.itemsOnMainThread > 0, 'the calling thread helped while the thread started');
  await cold.close();
  // Started: with 'while-starting' it leaves every item to the thread; with true (and a spare core) it would not.
  for (const helps of ['while-starting', true] as const) {
    const pool = make(helps);
    await pool.warmUp(() => ({ text: '' }));
    for (let i = 0; i < 3000 && pool.threadsStarted < 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(pool.threadsStarted, 1, 'the thread started');
    const before = pool.itemsOnMainThread;
    assert.deepEqual(await collect(pool.map(input)), input.map((x) => Buffer.byteLength(x.text)));
    if (helps === 'while-starting') assert.equal(pool.itemsOnMainThread, before, 'no item ran on the calling thread after start-up');
    else if (availableParallelism() > 1) assert.ok(pool.itemsOnMainThread > before, 'with a spare core, true keeps helping (the contrast that makes the check above meaningful)');
    await pool.close();
  }
});

test('OrderedPool with mainThreadHelps: threads that cannot start leave the work to the calling thread, which finishes it in order and says why', async () => {
  const pool = lengthPool('broken-worker.ts', 2, 'while-starting');
  const input = Array.from({ length: 300 }, (_, i) => ({ text: 'ü'.repeat(i % 11) }));
  // Items arrive over time, as from a reader, so the threads' start-up fails during the run.
  async function* slowly(): AsyncGenerator<{ text: string }> {
    for (const x of input) { await new Promise((r) => setTimeout(r, 2)); yield x; }
  }
  assert.deepEqual(await collect(pool.map(slowly())), input.map((x) => Buffer.byteLength(x.text)));
  assert.equal(pool.itemsOnMainThread, input.length);
  assert.ok(pool.threadStartError !== null, 'the failed start is reported');
  assert.match(threadStartWarning(pool.threadStartError), /^worker threads could not start \(.+\); the main thread did their work/);
  await pool.close();
});

test('OrderedPool with mainThreadHelps: a run that ends before the threads have started reports no start failure when the pool closes', async () => {
  const pool = lengthPool('length-worker.ts', 2, 'while-starting');
  const input = [{ text: 'abc' }, { text: 'é' }];
  assert.deepEqual(await collect(pool.map(input)), [3, 2]);
  assert.equal(pool.threadsStarted, 0, 'the threads had not started yet (the case under test)');
  await pool.close();
  // Closing ends the pending start-up probes: that is not a thread that could not start.
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(pool.threadStartError, null);
});

test('OrderedPool with mainThreadHelps: once every thread has started, the calling thread stops helping when the threads take every core', async () => {
  const workers = availableParallelism();
  const pool = new OrderedPool<{ text: string }, number>({
    filename: new URL('./fixtures/length-worker.ts', import.meta.url),
    workers,
    inline: (x) => Buffer.byteLength(x.text),
    mainThreadHelps: true,
    probe: () => ({ text: '' }),
  });
  // Let every thread start (its probe returns), then keep them all busy.
  await pool.warmUp(() => ({ text: '' }));
  for (let i = 0; i < 3000 && pool.threadsStarted < workers; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(pool.threadsStarted, workers, 'every thread started');
  const before = pool.itemsOnMainThread;
  const input = Array.from({ length: 300 }, (_, i) => ({ text: 'x'.repeat(i % 50) }));
  const out = await collect(pool.map(input));
  assert.deepEqual(out, input.map((x) => Buffer.byteLength(x.text)));
  assert.equal(pool.itemsOnMainThread, before, 'no item ran on the calling thread after start-up');
  await pool.close();
});
