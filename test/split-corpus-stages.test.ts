/**
 * split-corpus as a chain of stages: its outputs equal an oracle written
 * here (split the input text on the separator, number the non-empty
 * documents over all inputs, route document i by documentDraw(seed, i)) for
 * any --chunk-mb and via stdin; with filter-docs and dedup-docs on, dropped
 * documents reach neither side and kept ones keep their numbers.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { splitCorpus } from '../pipelines/split-corpus.ts';
import { documentDraw } from '../src/stages/documents.ts';
import { runPipeline, summaryOf } from './helpers/cli.ts';
import { runInProcess } from './helpers/in-process.ts';

const SEP = '<|endoftext|>';
const dir = mkdtempSync(join(tmpdir(), 'lmpipe-split-stages-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Numbered documents of the inputs' texts, as the oracle sees them. */
function oracleDocs(texts: readonly string[]): { n: number; text: string }[] {
  let n = 0;
  return texts.flatMap((t) => t.split(SEP).filter((d) => d.length > 0).map((text) => ({ n: n++, text })));
}

function oracleSplit(docs: readonly { n: number; text: string }[], seed: number, valFraction: number): { train: string; valid: string } {
  const train: string[] = [];
  const valid: string[] = [];
  for (const d of docs) (documentDraw(seed, d.n) < valFraction ? valid : train).push(d.text);
  return { train: train.join(SEP), valid: valid.join(SEP) };
}

// Documents of many sizes (some over a 200-byte chunk, one over 10 kB), multi-byte text, empty documents, separators
// at every offset against the read chunks.
function corpusText(count: number, salt: number): string {
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    const len = (i * 37 + salt) % 23;
    parts.push(i % 29 === 5 ? '' : `Doc ${salt}.${i} ${'wörd '.repeat(len * (i % 7 === 3 ? 30 : 1))}${i % 50 === 7 ? 'x'.repeat(12_000) : ''}end`);
  }
  return parts.join(SEP);
}

const textA = `${SEP}${corpusText(300, 1)}${SEP}${SEP}`;
const textB = corpusText(120, 2); // no trailing separator: its last document ends with the file
const fileA = join(dir, 'a.txt');
const fileB = join(dir, 'b.txt');
writeFileSync(fileA, textA);
writeFileSync(fileB, textB);

const outputs = (out: string): { train: string; valid: string } => ({
  train: readFileSync(join(out, 'train.txt'), 'utf8'),
  valid: readFileSync(join(out, 'valid.txt'), 'utf8'),
});

test('split-corpus (stages off): byte-identical to the oracle for --chunk-mb 0.0002, 0.01, 4', async () => {
  const docs = oracleDocs([textA, textB]);
  const want = oracleSplit(docs, 7, 0.3);
  for (const mb of ['0.0002', '0.01', '4']) {
    const out = join(dir, `off-${mb}`);
    const r = await runInProcess(splitCorpus, ['-i', fileA, '-i', fileB, '--out-dir', out, '--seed', '7', '--val-fraction', '0.3', '--chunk-mb', mb, '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(outputs(out), want, `--chunk-mb ${mb}`);
    const s = summaryOf(r);
    assert.equal(s.documents, docs.length);
    assert.equal((s.valid as { documents: number }).documents, want.valid.split(SEP).length);
    const stages = s.stages as Record<string, Record<string, number>>;
    assert.deepEqual(Object.keys(stages), ['read', 'route'], 'switched-off stages are left out');
    assert.equal(stages.read.bytes, Buffer.byteLength(textA) + Buffer.byteLength(textB));
  }
});

test('split-corpus (stages off) via stdin: byte-identical to the oracle', () => {
  const want = oracleSplit(oracleDocs([textA]), 0, 0.25);
  for (const mb of ['0.0002', '4']) {
    const out = join(dir, `stdin-${mb}`);
    const r = runPipeline('split-corpus', ['-i', '-', '--out-dir', out, '--val-fraction', '0.25', '--chunk-mb', mb, '--quiet'], { input: textA });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(outputs(out), want, `stdin, --chunk-mb ${mb}`);
  }
});

test('split-corpus --min-doc-bytes/--drop-regex/--dedup: dropped documents reach neither side; kept ones keep their numbers', async () => {
  // No empty documents here, so every dropped document is a counted one.
  const base = corpusText(200, 3).split(SEP).filter((d) => d.length > 0);
  const texts = [...base, base[4], base[10], 'spam: buy now, buy now, buy now', base[4], 'tiny', 'spam: again and again and again'];
  const input = join(dir, 'filter.txt');
  writeFileSync(input, texts.join(SEP));
  const all = oracleDocs([texts.join(SEP)]);
  const short = all.filter((d) => Buffer.byteLength(d.text) < 20);
  const spam = all.filter((d) => Buffer.byteLength(d.text) >= 20 && /^spam/u.test(d.text));
  const seen = new Set<string>();
  const kept = all.filter((d) => Buffer.byteLength(d.text) >= 20 && !/^spam/u.test(d.text)).filter((d) => {
    if (seen.has(d.text)) return false;
    seen.add(d.text);
    return true;
  });
  const duplicates = all.length - short.length - spam.length - kept.length;
  assert.ok(short.length > 0 && spam.length > 0 && duplicates >= 3, `${short.length} ${spam.length} ${duplicates}`);
  const want = oracleSplit(kept, 3, 0.2);
  for (const mb of ['0.0002', '0.01', '4']) {
    const out = join(dir, `filter-${mb}`);
    const r = await runInProcess(splitCorpus, ['-i', input, '--out-dir', out, '--seed', '3', '--val-fraction', '0.2', '--chunk-mb', mb,
      '--min-doc-bytes', '20', '--drop-regex', '^spam', '--dedup', '--dedup-max-mb', '1', '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(outputs(out), want, `--chunk-mb ${mb}`);
    const s = summaryOf(r);
    assert.equal(s.documents, kept.length);
    const stages = s.stages as Record<string, Record<string, number>>;
    assert.deepEqual(Object.keys(stages), ['read', 'filter-docs', 'dedup-docs', 'route']);
    assert.equal(stages['filter-docs'].dropped_short, short.length);
    assert.equal(stages['filter-docs'].dropped_matching, spam.length);
    assert.equal(stages['filter-docs'].documents_out, all.length - short.length - spam.length);
    assert.equal(stages['dedup-docs'].dropped_duplicates, duplicates);
    assert.equal(stages['dedup-docs'].documents_out, kept.length);
  }
  // Kept documents keep their numbers: without the filters, they land on the same sides.
  const r = await runInProcess(splitCorpus, ['-i', input, '--out-dir', join(dir, 'nofilter'), '--seed', '3', '--val-fraction', '0.2', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const valid = new Set(outputs(join(dir, 'nofilter')).valid.split(SEP));
  for (const d of want.valid.split(SEP)) assert.ok(valid.has(d));
});

test('split-corpus --keep-regex keeps only matching documents; a bad regex is refused', async () => {
  const input = join(dir, 'keep.txt');
  writeFileSync(input, ['alpha one', 'beta two', 'alpha three', 'gamma'].join(SEP));
  const out = join(dir, 'keep');
  const r = await runInProcess(splitCorpus, ['-i', input, '--out-dir', out, '--keep-regex', '^alpha', '--val-fraction', '0', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(outputs(out), { train: `alpha one${SEP}alpha three`, valid: '' });
  assert.equal((summaryOf(r).stages as Record<string, Record<string, number>>)['filter-docs'].dropped_not_matching, 2);
  const bad = await runInProcess(splitCorpus, ['-i', input, '--out-dir', join(dir, 'bad'), '--keep-regex', '(', '--quiet']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--keep-regex "\(" is not a valid regular expression/);
});
