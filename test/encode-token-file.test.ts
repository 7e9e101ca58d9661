/**
 * Token files: raw little-endian ids that numpy memmaps directly (python3 +
 * numpy is the oracle), a sidecar describing them, uint32 for big
 * vocabularies, no truncated ids, and atomic replacement.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { UserError } from '../src/pipeline/errors.ts';
import { TokenFileWriter, readTokenFileMeta, sidecarPath } from '../src/tokenizer/token-file.ts';
import { TokenFileReader } from '../src/tokenizer/token-reader.ts';
import { dtypeForVocab, itemBytes, typedArrayFor } from '../src/tokenizer/token-dtype.ts';
import { Rng } from '../src/util/rng.ts';

const tmp = mkdtempSync(join(tmpdir(), 'lmpipe-tokfile-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const hasNumpy = spawnSync('python3', ['-c', 'import numpy']).status === 0;
if (!hasNumpy && process.env.CI === 'true') throw new Error('python3 with numpy is needed as the token-file oracle');

/** numpy's view of the file: np.memmap with the sidecar's dtype, as a list. */
function numpyRead(path: string): number[] {
  const script = 'import sys, json, numpy as np\n'
    + 'meta = json.load(open(sys.argv[1] + ".json"))\n'
    + 'a = np.memmap(sys.argv[1], dtype=np.dtype(meta["dtype"]).newbyteorder("<"), mode="r")\n'
    + 'assert len(a) == meta["tokens"], (len(a), meta["tokens"])\n'
    + 'json.dump([int(x) for x in a], sys.stdout)\n';
  const r = spawnSync('python3', ['-c', script, path], { encoding: 'utf8', maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as number[];
}

const info = (vocabSize: number) => ({ vocabSize, tokenizerHash: 'f'.repeat(64), specialTokens: [{ text: '<|endoftext|>', id: vocabSize - 1 }] });

function randomIds(rng: Rng, n: number, vocab: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(i % 97 === 0 ? vocab - 1 : rng.intBelow(vocab));
  return out;
}

describe('token files', () => {
  it('chooses uint16 up to 65,536 ids, uint32 above', () => {
    assert.equal(dtypeForVocab(50257), 'uint16');
    assert.equal(dtypeForVocab(65536), 'uint16');
    assert.equal(dtypeForVocab(65537), 'uint32');
    assert.deepEqual([itemBytes('uint16'), itemBytes('uint32')], [2, 4]);
    assert.equal(typedArrayFor('uint16'), Uint16Array);
    assert.equal(typedArrayFor('uint32'), Uint32Array);
  });

  for (const vocab of [50257, 65536, 100_000]) {
    it(`writes ids in pieces; numpy and the reader see them (vocab ${vocab})`, { skip: hasNumpy ? false : 'python3 + numpy not found' }, async () => {
      const rng = new Rng(vocab);
      const ids = randomIds(rng, 20_000, vocab);
      const path = join(tmp, `v${vocab}`, 'train.bin');
      const w = new TokenFileWriter(path, info(vocab));
      // Pieces of every kind: typed arrays of either width, plain arrays, empty.
      await w.write(Uint32Array.from(ids.slice(0, 5000)), { sourceBytes: 10 });
      await w.write([], { sourceBytes: 5 });
      await w.write(ids.slice(5000, 12000), { sourceBytes: 20 });
      await w.write(vocab <= 65536 ? Uint16Array.from(ids.slice(12000)) : Uint32Array.from(ids.slice(12000)), { sourceBytes: 30 });
      assert.equal(existsSync(path), false, 'nothing under the final name before close');
      const meta = await w.close();
      assert.equal(meta.tokens, ids.length);
      assert.equal(meta.sourceBytes, 65);
      assert.equal(meta.dtype, vocab <= 65536 ? 'uint16' : 'uint32');
      assert.deepEqual(readTokenFileMeta(path), meta);
      assert.deepEqual(meta.specialTokens, { '<|endoftext|>': vocab - 1 });
      assert.equal(readFileSync(path).length, ids.length * meta.itemBytes);
      assert.deepEqual(numpyRead(path), ids);
      const r = new TokenFileReader(path, { requireSidecar: true });
      assert.equal(r.length, ids.length);
      assert.equal(r.dtype, meta.dtype);
      assert.deepEqual(Array.from(r.readIds(4990, 20)), ids.slice(4990, 5010));
      assert.deepEqual(Array.from(r.readIds(ids.length - 3, 100)), ids.slice(-3));
      assert.deepEqual(Array.from(r.readAll()), ids);
      assert.throws(() => r.readIds(ids.length + 1, 1), /outside/);
      r.close();
    });
  }

  it('never truncates: an id that does not fit is an error, and the output stays absent', async () => {
    const path = join(tmp, 'bad', 'x.bin');
    const w = new TokenFileWriter(path, info(50257));
    await w.write([1, 2, 3]);
    await assert.rejects(w.write([70000]), /token id 70000 at index 0 cannot be written/);
    await assert.rejects(w.write([50257]), /below the vocabulary size 50257/);
    await assert.rejects(w.write([-1]), /token id -1/);
    // Typed arrays take the specialised check: the first id out of range is named.
    await assert.rejects(w.write(Uint16Array.of(5, 50257, 7)), /token id 50257 at index 1 /);
    await assert.rejects(w.write(Uint32Array.of(5, 6, 90000)), /token id 90000 at index 2 /);
    await w.write(Uint16Array.of(50256, 0), { fromEncoder: true });
    w.abort();
    assert.equal(existsSync(path), false);
    assert.deepEqual(readdirSync(join(tmp, 'bad')), [], 'the temporary file is removed');
  });

  it('replacing a file: the old one stays intact until close, then data and sidecar change together', async () => {
    const path = join(tmp, 'replace.bin');
    const w1 = new TokenFileWriter(path, info(300));
    await w1.write([1, 2, 3], { sourceBytes: 3 });
    await w1.close();
    const w2 = new TokenFileWriter(path, info(300));
    await w2.write([4, 5], { sourceBytes: 2 });
    assert.deepEqual(Array.from(new TokenFileReader(path).readAll()), [1, 2, 3]);
    await w2.close();
    const r = new TokenFileReader(path);
    assert.deepEqual(Array.from(r.readAll()), [4, 5]);
    assert.equal(r.meta?.sourceBytes, 2);
    r.close();
    assert.deepEqual(readdirSync(tmp).filter((f) => f.includes('replace')).sort(), ['replace.bin', 'replace.bin.json']);
  });

  it('`-` streams the raw ids to stdout (no sidecar)', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const w = new TokenFileWriter('-', info(50257), out);
    await w.write(Uint32Array.of(1, 258, 50256));
    const meta = await w.close();
    assert.equal(meta.tokens, 3);
    assert.deepEqual([...Buffer.concat(chunks)], [1, 0, 2, 1, 0x50, 0xc4]);
    assert.equal(existsSync(sidecarPath('-')), false);
  });

  it('reading: a missing sidecar or a truncated file is a UserError', async () => {
    const path = join(tmp, 'trunc.bin');
    const w = new TokenFileWriter(path, info(300));
    await w.write([1, 2, 3, 4]);
    await w.close();
    truncateSync(path, 5);
    assert.throws(() => new TokenFileReader(path), (e: unknown) => e instanceof UserError && /truncated/.test(e.message));
    writeFileSync(join(tmp, 'nosidecar.bin'), Buffer.alloc(4));
    assert.throws(() => new TokenFileReader(join(tmp, 'nosidecar.bin'), { requireSidecar: true }), (e: unknown) => e instanceof UserError && /no sidecar/.test(e.message));
  });
});
