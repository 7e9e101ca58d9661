/**
 * split-corpus: route the documents of a corpus (separated by a special
 * token such as <|endoftext|>) into train and validation text files, by a
 * seeded per-document draw. Streams; memory is one chunk, whatever the size
 * of a document: each is routed at its first byte and streamed to its side
 * whole, never cut.
 *
 *   npx tsx pipelines/split-corpus.ts --input corpus.txt --val-fraction 0.1 --out-dir out/data
 */
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { resolveInputs, readInputs, totalSize } from '../src/stream/read.ts';
import { documentDraw, documentEvents } from '../src/stream/documents.ts';
import { commitTemp, discardTemp, ensureDir, fsyncOrFail, settleWriteError, tempPathFor, writeAllSync } from '../src/util/atomic.ts';
import { guardOutputs } from '../src/util/output-guard.ts';

/**
 * Warnings about a split of `documents` (> 0) documents: a side that got
 * none, or a --val-fraction that expects fewer than one document on a side.
 * A side emptied on purpose (--val-fraction 0 or 1) is not warned about.
 */
export function splitWarnings(documents: number, counts: { train: number; valid: number }, valFraction: number): string[] {
  const warnings: string[] = [];
  const sides = [
    { file: 'valid.txt', got: counts.valid, fraction: valFraction, fix: documents >= 3 ? `raise --val-fraction to at least ${(Math.ceil(150 / documents) / 100).toFixed(2)}` : null },
    { file: 'train.txt', got: counts.train, fraction: 1 - valFraction, fix: 'lower --val-fraction' },
  ];
  for (const side of sides) {
    if (side.fraction <= 0) continue;
    const expected = documents * side.fraction;
    if (expected < 1) {
      warnings.push(`--val-fraction ${valFraction} of ${documents} document${documents === 1 ? '' : 's'} expects only ${expected.toFixed(2)} in ${side.file}, which got ${side.got}; give more documents${side.fix ? ` or ${side.fix}` : ''}`);
    } else if (side.got === 0) {
      warnings.push(`${side.file} is empty: none of the ${documents} documents was drawn for it (${expected.toFixed(1)} expected); try another --seed${side.fix ? ` or ${side.fix}` : ''}`);
    }
  }
  return warnings;
}

/** Documents above this size are reported (kept whole all the same). */
const LARGE_DOCUMENT_BYTES = 64 << 20;

export const splitCorpus = definePipeline({
  name: 'split-corpus',
  description: 'split a corpus into train and validation text files by document',
  stages: [
    { name: 'read', description: 'stream the --input files (fast-glob patterns, - for stdin)' },
    { name: 'split', description: 'cut the stream at document separators' },
    { name: 'route', description: 'send each document to train or validation by a seeded draw' },
    { name: 'write', description: 'write train.txt and valid.txt (temp files renamed at the end)' },
  ],
  options: {
    input: { type: 'string', multiple: true, required: true, short: 'i', placeholder: 'GLOB', description: 'input files (glob; repeatable; - for stdin)' },
    separator: { type: 'string', default: '<|endoftext|>', placeholder: 'TOKEN', description: 'document separator' },
    valFraction: { type: 'number', default: 0.1, min: 0, max: 1, placeholder: 'F', description: 'fraction of documents for validation' },
    seed: { type: 'int', default: 0, description: 'seed of the per-document draw' },
    outDir: { type: 'string', required: true, placeholder: 'DIR', description: 'output directory for train.txt and valid.txt' },
    chunkMb: { type: 'number', default: 4, min: 0.0001, description: 'read chunk size in MB' },
  },
  examples: ['npx tsx pipelines/split-corpus.ts --input ../shared/corpora/tinystories.txt --val-fraction 0.1 --out-dir out/data'],
  validate(o) {
    if (o.separator.length === 0) throw new UserError('--separator must not be empty');
  },
  async run(o, ctx) {
    const files = await resolveInputs(o.input);
    const sep = Buffer.from(o.separator, 'utf8');
    const targets = { train: join(o.outDir, 'train.txt'), valid: join(o.outDir, 'valid.txt') };
    guardOutputs([
      { path: targets.train, flag: '--out-dir', type: 'file', what: 'train split', label: `--out-dir ${o.outDir}: its train.txt` },
      { path: targets.valid, flag: '--out-dir', type: 'file', what: 'validation split', label: `--out-dir ${o.outDir}: its valid.txt` },
    ], files.map((f) => ({ path: f.path, what: '--input' })), { log: (m) => ctx.log(m) });
    ensureDir(o.outDir);
    const tmp = { train: tempPathFor(targets.train), valid: tempPathFor(targets.valid) };
    const fds = { train: openSync(tmp.train, 'w'), valid: openSync(tmp.valid, 'w') };
    const counts = { train: 0, valid: 0 };
    const bytes = { train: 0, valid: 0 };
    const total = totalSize(files);
    const task = ctx.progress.task('split', 'bytes', total > 0 ? total : undefined);
    let docIndex = 0;
    // Each document is routed by its number when its first byte arrives and
    // streamed to that side as it is read: it is never held whole nor cut.
    let side: 'train' | 'valid' = 'train';
    let doc = { file: '', offset: 0 };
    const large = { count: 0, bytes: 0, file: '', offset: 0 };
    const append = (data: Buffer): void => {
      writeAllSync(fds[side], data, targets[side], bytes[side]);
      bytes[side] += data.length;
    };
    try {
      const events = documentEvents(readInputs(files, Math.round(o.chunkMb * 1e6)), sep, (n) => task.increment(n, `${docIndex} docs`));
      for await (const ev of events) {
        if (ctx.signal.aborted) throw new Error('interrupted');
        if (ev.kind === 'start') {
          docIndex = ev.index + 1;
          side = documentDraw(o.seed, ev.index) < o.valFraction ? 'valid' : 'train';
          if (counts[side] > 0) append(sep);
          counts[side]++;
          doc = { file: ev.file, offset: ev.offset };
        } else if (ev.kind === 'data') {
          append(ev.data);
        } else if (ev.bytes > LARGE_DOCUMENT_BYTES) {
          large.count++;
          if (ev.bytes > large.bytes) Object.assign(large, { bytes: ev.bytes, ...doc });
        }
      }
      task.stop();
      for (const k of ['train', 'valid'] as const) { fsyncOrFail(fds[k], targets[k], bytes[k]); closeSync(fds[k]); }
      commitTemp(tmp.train, targets.train);
      commitTemp(tmp.valid, targets.valid);
    } catch (e) {
      for (const k of ['train', 'valid'] as const) { try { closeSync(fds[k]); } catch { /* closed */ } discardTemp(tmp[k]); }
      throw settleWriteError(e);
    }
    if (docIndex === 0) ctx.warn('the input holds no document');
    if (large.count > 0) {
      ctx.warn(`${large.count} document(s) over ${LARGE_DOCUMENT_BYTES >> 20} MB were kept whole, each streamed to one side (largest: ${(large.bytes / 2 ** 20).toFixed(1)} MB, ${large.file === '-' ? 'stdin' : large.file} from byte ${large.offset}); tools that take a document at a time may need the memory`);
    }
    else for (const w of splitWarnings(docIndex, counts, o.valFraction)) ctx.warn(w);
    return {
      documents: docIndex,
      train: { path: targets.train, documents: counts.train, bytes: bytes.train },
      valid: { path: targets.valid, documents: counts.valid, bytes: bytes.valid },
      large_documents: large.count,
    };
  },
});

await runIfMain(splitCorpus, import.meta.url);
