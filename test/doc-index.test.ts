/**
 * Document indexes (`encode --doc-index`): `F.index` holds, as little-endian
 * uint64, the token offset after each separator token. Checked against an
 * oracle that encodes every document on its own (the running totals of
 * their lengths); sharded parts' indexes, merged by merge-tokens, equal the
 * one-process index byte for byte; a part without an index (or with another
 * separator) is refused by merge-tokens and redone by a rerun that asks for
 * one; rewriting a token file without --doc-index removes its old index; an
 * abandoned write leaves no index behind.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '../pipelines/encode.ts';
import { mergeTokens } from '../pipelines/merge-tokens.ts';
import { trainBpePipeline } from '../pipelines/train-bpe.ts';
import type { OptionSpecs, Pipeline } from '../src/pipeline/define.ts';
import { TokenFileWriter, indexPath } from '../src/tokenizer/token-file.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { resolveTokenFiles } from '../src/train/token-dataset.ts';
import { runInProcess } from './helpers/in-process.ts';
import { sotuText } from './helpers/sotu.ts';

const EOT = '<|endoftext|>';
const tmp = mkdtempSync(join(tmpdir(), 'lmpipe-doc-index-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const text = sotuText({ maxBytes: 400_000, docChars: 1500 });
const corpus = join(tmp, 'corpus.txt');
writeFileSync(corpus, text);
const tok = join(tmp, 'tok');

async function ok<O extends OptionSpecs, R extends object>(p: Pipeline<O, R>, argv: string[]): Promise<Record<string, unknown>> {
  const r = await runInProcess(p, [...argv, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  return r.summary as Record<string, unknown>;
}

/** The entries of an index file. */
function readIndex(path: string): number[] {
  const b = readFileSync(path);
  return Array.from({ length: b.length / 8 }, (_, i) => Number(b.readBigUInt64LE(8 * i)));
}

/** The oracle: each document (text up to and with a separator) encoded on its own; the running totals of their lengths. */
function oracleEnds(t: Tokenizer, whole: string): number[] {
  const pieces = whole.split(EOT);
  const ends: number[] = [];
  let at = 0;
  for (const piece of pieces.slice(0, -1)) {
    at += t.encode(piece).length + 1;
    ends.push(at);
  }
  return ends;
}

describe('encode --doc-index', () => {
  it('the index holds where each document ends, by the oracle, for any worker count; the sidecar describes it', async () => {
    await ok(trainBpePipeline, ['-i', corpus, '--vocab-size', '600', '-o', tok]);
    const want = oracleEnds(Tokenizer.fromDir(tok), text);
    assert.ok(want.length > 100, `${want.length} documents`);
    for (const workers of ['0', '2']) {
      const out = join(tmp, `w${workers}.bin`);
      const s = await ok(encode, ['-t', tok, '-i', corpus, '-o', out, '--doc-index', '--workers', workers]);
      assert.deepEqual(readIndex(indexPath(out)), want, `workers ${workers}`);
      assert.deepEqual(s.document_index, { out: indexPath(out), documents: want.length });
      const meta = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as { tokens: number; specialTokens: Record<string, number>; documentIndex: unknown };
      assert.deepEqual(meta.documentIndex, { file: 'w' + workers + '.bin.index', separatorId: meta.specialTokens[EOT], documents: want.length });
      assert.ok(want[want.length - 1] <= meta.tokens);
    }
  });

  it('N shards: each part has its own index; merge-tokens joins them into the one-process index, byte for byte', async () => {
    const whole = join(tmp, 'whole.bin');
    await ok(encode, ['-t', tok, '-i', corpus, '-o', whole, '--doc-index', '--workers', '0']);
    for (const n of [2, 3, 7]) {
      const dir = join(tmp, `parts${n}`);
      for (let i = 0; i < n; i++) await ok(encode, ['-t', tok, '-i', corpus, '-o', dir, '--shard', `${i}/${n}`, '--doc-index', '--workers', '0']);
      // Each part's offsets count from its own start: shifted by the tokens before it, they are the whole file's.
      const parts = readdirSync(dir).filter((f) => f.endsWith('.bin')).sort();
      assert.equal(parts.length, n);
      let before = 0;
      const shifted: number[] = [];
      for (const f of parts) {
        shifted.push(...readIndex(indexPath(join(dir, f))).map((e) => e + before));
        before += readFileSync(join(dir, f)).length / 2;
      }
      assert.deepEqual(shifted, readIndex(indexPath(whole)), `${n} shards`);
      // The index files are not token files: a directory or glob of parts names only the .bin files.
      assert.deepEqual(resolveTokenFiles(dir, 'parts').map((f) => f.slice(dir.length + 1)), parts);
      assert.deepEqual(resolveTokenFiles(join(dir, '*'), 'parts').map((f) => f.slice(dir.length + 1)), parts);
      const merged = join(tmp, `merged${n}.bin`);
      const s = await ok(mergeTokens, [dir, '-o', merged]);
      assert.ok(readFileSync(merged).equals(readFileSync(whole)));
      assert.ok(readFileSync(indexPath(merged)).equals(readFileSync(indexPath(whole))), `merged index, ${n} shards`);
      assert.equal((s.document_index as { documents: number }).documents, readIndex(indexPath(whole)).length);
    }
  });

  it('a part without an index is refused by merge-tokens and redone by a rerun that asks for one; finished parts are skipped', async () => {
    const dir = join(tmp, 'mixed');
    await ok(encode, ['-t', tok, '-i', corpus, '-o', dir, '--shard', '0/2', '--doc-index', '--workers', '0']);
    await ok(encode, ['-t', tok, '-i', corpus, '-o', dir, '--shard', '1/2', '--workers', '0']);
    const refused = await runInProcess(mergeTokens, [dir, '-o', join(tmp, 'mixed.bin'), '--quiet']);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /part-00001-of-00002\.bin has no document index but .*part-00000-of-00002\.bin has a document index after id \d+; encode all parts with the same --doc-index/);
    assert.equal(existsSync(join(tmp, 'mixed.bin')), false);
    const again0 = await ok(encode, ['-t', tok, '-i', corpus, '-o', dir, '--shard', '0/2', '--doc-index', '--workers', '0']);
    assert.equal(again0.skipped, true);
    const again1 = await ok(encode, ['-t', tok, '-i', corpus, '-o', dir, '--shard', '1/2', '--doc-index', '--workers', '0']);
    assert.equal(again1.skipped, undefined, 'the part without an index is made again');
    assert.ok(existsSync(indexPath(join(dir, 'part-00001-of-00002.bin'))));
    await ok(mergeTokens, [dir, '-o', join(tmp, 'mixed.bin')]);
    assert.ok(readFileSync(indexPath(join(tmp, 'mixed.bin'))).equals(readFileSync(indexPath(join(tmp, 'whole.bin')))));
  });

  it('bad requests are one-line errors; rewriting a token file without --doc-index removes its old index', async () => {
    const toStdout = await runInProcess(encode, ['-t', tok, '-i', corpus, '-o', '-', '--doc-index', '--quiet']);
    assert.equal(toStdout.status, 2);
    assert.match(toStdout.stderr, /--doc-index writes OUT\.index beside the token file: give --out FILE, not -/);
    const notSpecial = await runInProcess(encode, ['-t', tok, '-i', corpus, '-o', join(tmp, 'x.bin'), '--doc-index', '--separator', '\n\n', '--quiet']);
    assert.equal(notSpecial.status, 2);
    assert.match(notSpecial.stderr, /--doc-index: the separator "\\n\\n" is not a special token of this tokenizer \(it has "<\|endoftext\|>"\)/);
    assert.equal(existsSync(join(tmp, 'x.bin')), false);
    const out = join(tmp, 'rewrite.bin');
    await ok(encode, ['-t', tok, '-i', corpus, '-o', out, '--doc-index', '--workers', '0']);
    assert.ok(existsSync(indexPath(out)));
    await ok(encode, ['-t', tok, '-i', corpus, '-o', out, '--workers', '0']);
    assert.equal(existsSync(indexPath(out)), false, 'a stale index must not describe the new file');
  });

  it('an abandoned write leaves neither index nor temporaries; one from the writer alone matches the separators it was given', async () => {
    const dir = join(tmp, 'writer');
    const info = { vocabSize: 100, tokenizerHash: 'sha256:test', specialTokens: [{ text: EOT, id: 99 }], documentIndex: { separatorId: 99 } };
    const w = new TokenFileWriter(join(dir, 'a.bin'), info);
    await w.write(new Uint16Array([1, 2, 99, 3]), { fromEncoder: true });
    w.abort();
    assert.deepEqual(readdirSync(dir), []);
    const k = new TokenFileWriter(join(dir, 'b.bin'), info);
    // Entries across writes, and more than one buffer's worth (65,536): offsets keep counting.
    const ids = new Uint16Array(200_000).map((_, i) => (i % 3 === 2 ? 99 : 5));
    await k.write(ids.subarray(0, 70_001), { fromEncoder: true });
    await k.write(ids.subarray(70_001), { fromEncoder: true });
    const meta = await k.close();
    const want = Array.from(ids.keys()).filter((i) => ids[i] === 99).map((i) => i + 1);
    assert.deepEqual(readIndex(indexPath(join(dir, 'b.bin'))), want);
    assert.equal(meta.documentIndex?.documents, want.length);
    assert.deepEqual(readdirSync(dir).sort(), ['b.bin', 'b.bin.index', 'b.bin.json']);
  });
});
