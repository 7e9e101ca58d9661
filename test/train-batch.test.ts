/**
 * CS336 MANIFEST §5 test_get_batch (statistics with a seeded RNG), token
 * files read by positional reads and memory-mapped (uint16 and uint32,
 * sidecar dtype, reads across mapped segments), and the in-order validation
 * iterator.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/util/rng.ts';
import { selectBackend } from '../src/backends/select.ts';
import { MemoryTokenSource, TokenFileReader, tokenFileDtype } from '../src/tokenizer/token-reader.ts';
import { itemBytes } from '../src/tokenizer/token-dtype.ts';
import type { TokenDtype } from '../src/tokenizer/token-dtype.ts';
import { sampleBatch, sequentialBatches } from '../src/train/batch-sampler.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { tryLoadNative } from '../src/backends/native/addon.ts';

const noMap = tryLoadNative() ? false : 'the native addon is not built (npm run build:native): no memory mapping';

const dir = mkdtempSync(join(tmpdir(), 'lmpipe-train-batch-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Little-endian bytes of `ids` written independently of the reader (Buffer API). */
function writeTokens(name: string, ids: number[], dtype: TokenDtype, sidecar: object | null): string {
  const width = itemBytes(dtype);
  const buf = Buffer.alloc(ids.length * width);
  ids.forEach((id, i) => (dtype === 'uint16' ? buf.writeUInt16LE(id, i * 2) : buf.writeUInt32LE(id, i * 4)));
  const p = join(dir, name);
  writeFileSync(p, buf);
  if (sidecar) writeFileSync(`${p}.json`, JSON.stringify(sidecar));
  return p;
}

/** A sidecar as pipelines/encode.ts writes it (token-file.ts format, version 1). */
function sidecar(dtype: TokenDtype, tokens: number): object {
  return { format: 'lmpipe-tokens', version: 1, dtype, itemBytes: itemBytes(dtype), tokens, sourceBytes: 0, vocabSize: 200_000, tokenizerHash: 'x', specialTokens: {} };
}

test('test_get_batch: arange(100), B=32, ctx 7, 1000 draws: shapes, y = x+1, starts cover [0, 92] within μ ± 5σ', () => {
  const data = new MemoryTokenSource(Array.from({ length: 100 }, (_, i) => i));
  const rng = new Rng(1234);
  const B = 32;
  const T = 7;
  const counts = new Map<number, number>();
  for (let draw = 0; draw < 1000; draw++) {
    const { x, y, batchSize, contextLength } = sampleBatch(data, rng, B, T);
    assert.equal(batchSize, B);
    assert.equal(contextLength, T);
    assert.equal(x.length, B * T);
    assert.equal(y.length, B * T);
    for (let b = 0; b < B; b++) {
      const start = x[b * T];
      for (let t = 0; t < T; t++) {
        assert.equal(x[b * T + t], start + t, 'a window is consecutive tokens');
        assert.equal(y[b * T + t], x[b * T + t] + 1);
      }
      counts.set(start, (counts.get(start) ?? 0) + 1);
    }
  }
  const starts = [...counts.keys()];
  assert.equal(Math.min(...starts), 0);
  assert.equal(Math.max(...starts), 92);
  assert.equal(counts.size, 93);
  const n = B * 1000;
  const mu = n / 93;
  const sigma = Math.sqrt(n * (1 / 93) * (1 - 1 / 93));
  for (const [start, c] of counts) {
    assert.ok(Math.abs(c - mu) < 5 * sigma, `start ${start} drawn ${c} times, expected ${mu.toFixed(1)} ± ${(5 * sigma).toFixed(1)}`);
  }
});

test('sampling is reproducible from the seed and resumes from the RNG state', () => {
  const data = new MemoryTokenSource(Array.from({ length: 1000 }, (_, i) => i));
  const a = new Rng(7);
  const b = new Rng(7);
  const first = sampleBatch(data, a, 4, 16);
  assert.deepEqual(sampleBatch(data, b, 4, 16).starts, first.starts);
  const resumed = Rng.fromState(a.state());
  assert.deepEqual(sampleBatch(data, resumed, 4, 16).starts, sampleBatch(data, a, 4, 16).starts);
});

test('an invalid backend argument throws (stands in for device="cuda:99"); bad shapes throw', async () => {
  await assert.rejects(selectBackend('cuda:99' as never), UserError);
  const data = new MemoryTokenSource([1, 2, 3, 4]);
  assert.throws(() => sampleBatch(data, new Rng(1), 2, 4), /fewer than context_length \+ 1 = 5/);
  assert.throws(() => sampleBatch(data, new Rng(1), 0, 2), /batch size/);
});

test('uint16 and uint32 token files: positional reads equal the written ids, dtype from the sidecar', () => {
  const ids16 = Array.from({ length: 5000 }, (_, i) => (i * 7919) % 65536);
  const p16 = writeTokens('a.bin', ids16, 'uint16', null);
  const ids32 = Array.from({ length: 5000 }, (_, i) => (i * 2654435761) % 200_000);
  const p32 = writeTokens('b.bin', ids32, 'uint32', sidecar('uint32', 5000));
  assert.equal(tokenFileDtype(p16), 'uint16');
  assert.equal(tokenFileDtype(p32), 'uint32');
  for (const [p, ids] of [[p16, ids16], [p32, ids32]] as const) {
    const file = new TokenFileReader(p);
    const mem = MemoryTokenSource.fromFile(p);
    assert.equal(file.length, ids.length);
    assert.equal(mem.length, ids.length);
    const rng = new Rng(99);
    for (let k = 0; k < 50; k++) {
      const batch = sampleBatch(file, rng, 3, 33);
      for (let b = 0; b < 3; b++) {
        const s = batch.starts[b];
        assert.deepEqual([...batch.x.subarray(b * 33, b * 33 + 33)], ids.slice(s, s + 33));
        assert.deepEqual([...batch.y.subarray(b * 33, b * 33 + 33)], ids.slice(s + 1, s + 34));
      }
      assert.deepEqual(sampleBatch(mem, Rng.fromState(rng.state()), 3, 33), sampleBatch(file, Rng.fromState(rng.state()), 3, 33));
    }
    file.close();
    assert.throws(() => file.read(0, 1, new Int32Array(1), 0), /closed/);
  }
});

test('the token reader serves the sampler identically from uint16 and uint32 files of the same ids', () => {
  const ids = Array.from({ length: 3001 }, (_, i) => (i * 40503) % 65536);
  const readers = [
    new TokenFileReader(writeTokens('same16-plain.bin', ids, 'uint16', null)),
    new TokenFileReader(writeTokens('same16.bin', ids, 'uint16', sidecar('uint16', ids.length))),
    new TokenFileReader(writeTokens('same32.bin', ids, 'uint32', sidecar('uint32', ids.length))),
  ];
  assert.deepEqual(readers.map((r) => r.dtype), ['uint16', 'uint16', 'uint32']);
  assert.deepEqual(readers.map((r) => r.length), [ids.length, ids.length, ids.length]);
  const reference = new MemoryTokenSource(ids);
  for (const T of [1, 16, 255]) {
    const expected = sampleBatch(reference, new Rng(T), 5, T);
    const expectedSeq = [...sequentialBatches(reference, 4, T, 6)];
    for (const r of readers) {
      assert.deepEqual(sampleBatch(r, new Rng(T), 5, T), expected, `${r.path}: random batches, T=${T}`);
      assert.deepEqual([...sequentialBatches(r, 4, T, 6)], expectedSeq, `${r.path}: sequential batches, T=${T}`);
    }
  }
  // The ids in the file's own dtype, too.
  for (const r of readers) assert.deepEqual(Array.from(r.readIds(2990, 20)), ids.slice(2990));
  for (const r of readers) r.close();
});

test('memory-mapped token files read the written ids, across segment boundaries, as positional reads do', { skip: noMap }, () => {
  // 4096-byte segments: 2048 uint16 or 1024 uint32 ids each, so windows and readIds cross boundaries.
  const ids16 = Array.from({ length: 9001 }, (_, i) => (i * 40503 + 17) % 65536);
  const ids32 = Array.from({ length: 5003 }, (_, i) => (i * 2654435761 + 5) % 300_000);
  const files = [
    { ids: ids16, path: writeTokens('map16.bin', ids16, 'uint16', null) },
    { ids: ids32, path: writeTokens('map32.bin', ids32, 'uint32', sidecar('uint32', ids32.length)) },
  ];
  for (const { ids, path } of files) {
    const mapped = new TokenFileReader(path, { access: 'map', segmentBytes: 4096 });
    const whole = new TokenFileReader(path, { access: 'map' });
    const positional = new TokenFileReader(path, { access: 'read' });
    assert.equal(mapped.access, 'map');
    assert.equal(positional.access, 'read');
    assert.equal(new TokenFileReader(path).access, 'map', "'auto' maps where the addon is built");
    const reference = new MemoryTokenSource(ids);
    for (const T of [1, 255, 1023, 2047, 2048, 4100]) {
      const expected = sampleBatch(reference, new Rng(T), 6, T);
      for (const r of [mapped, whole, positional]) {
        assert.deepEqual(sampleBatch(r, new Rng(T), 6, T), expected, `${path} (${r.access}): random batches, T=${T}`);
        assert.deepEqual([...sequentialBatches(r, 3, T, 4)], [...sequentialBatches(reference, 3, T, 4)], `${path} (${r.access}): sequential, T=${T}`);
      }
    }
    for (const [start, count] of [[0, ids.length], [1000, 3000], [ids.length - 5, 100], [ids.length, 1]]) {
      assert.deepEqual(Array.from(mapped.readIds(start, count)), ids.slice(start, start + count), `readIds(${start}, ${count})`);
    }
    const held = mapped.readIds(0, 10);
    for (const r of [mapped, whole, positional]) r.close();
    assert.deepEqual(Array.from(held), ids.slice(0, 10), 'ids read before close stay valid after it');
    assert.throws(() => mapped.read(0, 1, new Int32Array(1), 0), /closed/);
  }
});

test('a mapped token file keeps its ids when a writer replaces the file (temp + rename), and an empty file maps', { skip: noMap }, () => {
  const ids = Array.from({ length: 3000 }, (_, i) => i);
  const path = writeTokens('replaced.bin', ids, 'uint16', null);
  const r = new TokenFileReader(path, { access: 'map', segmentBytes: 4096 });
  const next = writeTokens('replaced.tmp', ids.map((i) => 65535 - i), 'uint16', null);
  renameSync(next, path);
  const out = new Int32Array(3000);
  r.read(0, 3000, out, 0);
  assert.deepEqual(Array.from(out), ids);
  r.close();
  const empty = new TokenFileReader(writeTokens('empty.bin', [], 'uint16', null), { access: 'map' });
  assert.equal(empty.length, 0);
  assert.equal(empty.readAll().length, 0);
  empty.close();
  assert.throws(() => new TokenFileReader(path, { access: 'map', segmentBytes: 1000 }), (e: unknown) => e instanceof UserError && /page size/.test(e.message));
});

test('bad token files: odd size for the dtype, bad sidecar, missing file', () => {
  const odd = join(dir, 'odd.bin');
  writeFileSync(odd, Buffer.alloc(7));
  assert.throws(() => new TokenFileReader(odd), (e: unknown) => e instanceof UserError && /7 bytes is not a multiple of 2/.test(e.message));
  const p = writeTokens('c.bin', [1, 2], 'uint16', { ...sidecar('uint16', 2), dtype: 'int8' });
  assert.throws(() => tokenFileDtype(p), (e: unknown) => e instanceof UserError && /not an lmpipe token-file sidecar/.test(e.message));
  const short = writeTokens('d.bin', [1, 2, 3], 'uint16', sidecar('uint16', 4));
  assert.throws(() => new TokenFileReader(short), (e: unknown) => e instanceof UserError && /6 bytes but its sidecar says 4 uint16 ids/.test(e.message));
  assert.throws(() => new TokenFileReader(join(dir, 'missing.bin')), (e: unknown) => e instanceof UserError && /ENOENT/.test(e.message));
});

test('sequentialBatches: consecutive non-overlapping windows of T+1 tokens, tail dropped, batch limit', () => {
  const data = new MemoryTokenSource(Array.from({ length: 103 }, (_, i) => 1000 + i));
  // T = 9: windows of 10 tokens start at 0, 10, …, 90 (10 windows); 3 tail tokens dropped.
  const batches = [...sequentialBatches(data, 4, 9)];
  assert.deepEqual(batches.map((b) => b.batchSize), [4, 4, 2]);
  assert.deepEqual(batches.flatMap((b) => b.starts), [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
  for (const b of batches) {
    for (let i = 0; i < b.batchSize; i++) {
      assert.equal(b.x[i * 9], 1000 + b.starts[i]);
      assert.equal(b.y[i * 9 + 8], 1000 + b.starts[i] + 9);
    }
  }
  assert.equal([...sequentialBatches(data, 4, 9, 2)].length, 2);
});
