/**
 * The stage pipelines against pinned reference paths that do no cutting,
 * no threads and no stages: encode's token file equals the ids of each
 * input encoded whole in memory (`Tokenizer.encodeToIds`), and train-bpe's
 * merges and vocab equal `trainBpe` on the whole text as one unit, for
 * every worker count and chunk size tried; the document stages, when they
 * drop nothing, change nothing, and when they drop documents, give what the
 * same pipeline gives on the text without them (built here by plain string
 * splitting). Real text: SOTU (npm) on any checkout, the shared corpora
 * when they are present.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '../pipelines/encode.ts';
import { trainBpePipeline } from '../pipelines/train-bpe.ts';
import { trainBpe } from '../src/tokenizer/bpe-train.ts';
import { TokenFileReader } from '../src/tokenizer/token-reader.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { sharedFileOrSkip } from '../src/util/shared-data.ts';
import { runInProcess } from './helpers/in-process.ts';
import { sotuText } from './helpers/sotu.ts';

const EOT = '<|endoftext|>';
const tmp = mkdtempSync(join(tmpdir(), 'lmpipe-stage-identity-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const sotu = join(tmp, 'sotu.txt');
writeFileSync(sotu, sotuText({ maxBytes: 1_500_000, docChars: 2000 }));
const second = join(tmp, 'second.txt');
writeFileSync(second, sotuText({ maxBytes: 300_000, skipAddresses: 200, docChars: 700 }));
const tinystories = sharedFileOrSkip('corpora', 'tinystories.txt');

/** Trains a tokenizer with the pipeline and returns its directory. */
async function trained(name: string, args: string[]): Promise<string> {
  const out = join(tmp, name);
  const r = await runInProcess(trainBpePipeline, [...args, '-o', out, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  return out;
}

function sameFiles(a: string, b: string, what: string): void {
  for (const f of ['merges.txt', 'vocab.json']) assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${what}: ${f} differs`);
}

describe('train-bpe: merges and vocab equal whole-text training', () => {
  it('for worker counts 0/1/2 and chunk sizes from 50 kB to 8 MB', async () => {
    const text = Buffer.concat([readFileSync(sotu), readFileSync(second)]);
    // The pinned reference: the whole text, one unit, this thread.
    const ref = await trainBpe({ input: text, vocabSize: 1000, specialTokens: [EOT], workers: 0, chunkBytes: text.length + 64 });
    assert.equal(ref.stats.chunks, 1);
    const refDir = join(tmp, 'ref-tok');
    const { writeTokenizerDir } = await import('../src/tokenizer/tokenizer-files.ts');
    await writeTokenizerDir(refDir, ref, ref.stats);
    const both = join(tmp, 'both.txt');
    writeFileSync(both, text);
    for (const [workers, chunkMb] of [['0', '8'], ['1', '0.05'], ['2', '0.05'], ['2', '0.3'], ['auto', '1']]) {
      const dir = await trained(`tok-${workers}-${chunkMb}`, ['-i', both, '--vocab-size', '1000', '--workers', workers, '--chunk-mb', chunkMb]);
      sameFiles(dir, refDir, `workers ${workers}, chunk ${chunkMb} MB`);
    }
  });

  it('on the shared tinystories.txt with 2 workers and small chunks', { skip: tinystories === null ? 'no ../shared/corpora' : false }, async () => {
    const path = tinystories as string;
    const ref = await trainBpe({ input: readFileSync(path), vocabSize: 2000, specialTokens: [EOT], workers: 0, chunkBytes: 64 << 20, maxPretokenBytes: 64 << 20 });
    const refDir = join(tmp, 'ref-ts');
    const { writeTokenizerDir } = await import('../src/tokenizer/tokenizer-files.ts');
    await writeTokenizerDir(refDir, ref, ref.stats);
    sameFiles(await trained('tok-ts', ['-i', path, '--vocab-size', '2000', '--workers', '2', '--chunk-mb', '0.2']), refDir, 'tinystories');
  });

  it('document stages: dropping nothing changes nothing; dropping documents equals training without them', async () => {
    const base = await trained('tok-plain', ['-i', sotu, '--vocab-size', '600']);
    sameFiles(await trained('tok-keepall', ['-i', sotu, '--vocab-size', '600', '--min-doc-bytes', '1', '--dedup']), base, 'filter and dedup that drop nothing');
    // Drop short documents and duplicates; the oracle text is built by splitting on the separator.
    const docs = readFileSync(sotu, 'utf8').split(EOT);
    const dup = join(tmp, 'dup.txt');
    writeFileSync(dup, docs.concat(docs.slice(0, 50)).join(EOT));
    const seen = new Set<string>();
    const kept = docs.concat(docs.slice(0, 50)).filter((d) => {
      if (Buffer.byteLength(d) < 1500 || seen.has(d)) return false;
      seen.add(d);
      return true;
    });
    assert.ok(kept.length < docs.length && kept.length > docs.length / 3, `${kept.length} of ${docs.length} kept`);
    const filtered = join(tmp, 'filtered.txt');
    writeFileSync(filtered, kept.map((d) => d + EOT).join(''));
    const r = await runInProcess(trainBpePipeline, ['-i', dup, '--vocab-size', '600', '--min-doc-bytes', '1500', '--dedup', '-o', join(tmp, 'tok-dropped'), '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    sameFiles(join(tmp, 'tok-dropped'), await trained('tok-filtered', ['-i', filtered, '--vocab-size', '600']), 'documents dropped');
    const stages = (r.summary as { stages: Record<string, Record<string, number>> }).stages;
    // Filtering comes first: the repeated short documents are dropped as short, the others as duplicates.
    assert.equal(stages['dedup-docs'].dropped_duplicates, docs.slice(0, 50).filter((d) => Buffer.byteLength(d) >= 1500).length);
    assert.ok(stages['filter-docs'].dropped_short > 0);
    assert.ok(stages.count.bytes > 0 && stages.read.bytes === readFileSync(dup).length);
  });
});

describe('encode: the token file equals each input encoded whole', () => {
  const tokDir = join(tmp, 'enc-tok');

  /** The reference ids: each input file encoded whole, in memory, in order. */
  function reference(tok: Tokenizer, files: string[]): number[] {
    return files.flatMap((f) => Array.from(tok.encodeToIds(readFileSync(f))));
  }

  async function encoded(args: string[]): Promise<{ ids: number[]; summary: Record<string, unknown> }> {
    const out = join(tmp, `enc-${args.join('_').replace(/[^\w.-]+/g, '_').slice(-80)}.bin`);
    const r = await runInProcess(encode, ['-t', tokDir, ...args, '-o', out, '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    return { ids: Array.from(new TokenFileReader(out).readAll()), summary: r.summary as Record<string, unknown> };
  }

  it('for worker counts 0/1/2, two inputs', async () => {
    const r = await runInProcess(trainBpePipeline, ['-i', sotu, '--vocab-size', '800', '-o', tokDir, '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    const tok = Tokenizer.fromDir(tokDir);
    const want = reference(tok, [sotu, second]);
    for (const workers of ['0', '1', '2']) {
      const { ids, summary } = await encoded(['-i', sotu, '-i', second, '--workers', workers]);
      assert.equal(ids.length, want.length, `workers ${workers}`);
      assert.deepEqual(ids, want, `workers ${workers}`);
      const stages = summary.stages as Record<string, { bytes?: number; items: number }>;
      assert.deepEqual(Object.keys(stages), ['read', 'cut', 'encode', 'write'], 'stages that are off are left out');
      assert.equal(stages.encode.bytes, readFileSync(sotu).length + readFileSync(second).length);
    }
  });

  it('on the shared tinystories.txt with 2 workers', { skip: tinystories === null ? 'no ../shared/corpora' : false }, async () => {
    const tok = Tokenizer.fromDir(tokDir);
    assert.deepEqual((await encoded(['-i', tinystories as string, '--workers', '2'])).ids, reference(tok, [tinystories as string]));
  });

  it('document stages: dropping nothing changes nothing; dropping documents equals encoding without them', async () => {
    const plain = (await encoded(['-i', sotu, '--workers', '1'])).ids;
    assert.deepEqual((await encoded(['-i', sotu, '--workers', '1', '--min-doc-bytes', '1', '--dedup'])).ids, plain);
    const docs = readFileSync(sotu, 'utf8').split(EOT);
    const kept = docs.filter((d) => /government/.test(d) && !/war/.test(d));
    assert.ok(kept.length > 10 && kept.length < docs.length / 2, `${kept.length} of ${docs.length}`);
    const filtered = join(tmp, 'enc-filtered.txt');
    // The last piece after the final separator is not a document followed by one.
    writeFileSync(filtered, kept.map((d, i) => (i < kept.length - 1 || docs.indexOf(d) < docs.length - 1 ? d + EOT : d)).join(''));
    const { ids, summary } = await encoded(['-i', sotu, '--workers', '2', '--keep-regex', 'government', '--drop-regex', 'war']);
    assert.deepEqual(ids, (await encoded(['-i', filtered, '--workers', '0'])).ids);
    const f = (summary.stages as Record<string, Record<string, number>>)['filter-docs'];
    assert.equal(f.documents_out, kept.filter((d) => d.length > 0).length);
  });
});
