/**
 * split-corpus: route the documents of a corpus (separated by a special
 * token such as <|endoftext|>) into train and validation text files, by a
 * seeded per-document draw. Streams; memory is one chunk.
 *
 *   npx tsx pipelines/split-corpus.ts --input corpus.txt --val-fraction 0.1 --out-dir out/data
 */
import { closeSync, openSync, writeSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { resolveInputs, readInputs, totalSize } from '../src/stream/read.ts';
import { rechunk, type WorkUnit } from '../src/stream/rechunk.ts';
import { composeStages } from '../src/stream/compose.ts';
import { documentDraw, lastSeparatorEnd, splitDocuments } from '../src/stream/documents.ts';
import { commitTemp, discardTemp, ensureDir, tempPathFor } from '../src/util/atomic.ts';

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
    ensureDir(o.outDir);
    const targets = { train: join(o.outDir, 'train.txt'), valid: join(o.outDir, 'valid.txt') };
    const tmp = { train: tempPathFor(targets.train), valid: tempPathFor(targets.valid) };
    const fds = { train: openSync(tmp.train, 'w'), valid: openSync(tmp.valid, 'w') };
    const counts = { train: 0, valid: 0 };
    const bytes = { train: 0, valid: 0 };
    const total = totalSize(files);
    const task = ctx.progress.task('split', 'bytes', total > 0 ? total : undefined);
    let docIndex = 0;
    // A document may end at a chunk or file end; it is routed when complete.
    const write = (which: 'train' | 'valid', doc: Buffer): void => {
      const needSep = counts[which] > 0;
      if (needSep) writeSync(fds[which], sep);
      if (doc.length) writeSync(fds[which], doc);
      counts[which]++;
      bytes[which] += doc.length + (needSep ? sep.length : 0);
    };
    try {
      const units = composeStages<WorkUnit>(readInputs(files, Math.round(o.chunkMb * 1e6)), [
        rechunk({ findCut: (b) => lastSeparatorEnd(b, sep) }),
      ]);
      for await (const u of units) {
        if (ctx.signal.aborted) throw new Error('interrupted');
        const docs = splitDocuments(u.data, sep);
        // A unit ending in a separator yields a trailing empty piece that is not a document.
        if (docs.length > 1 && docs[docs.length - 1].length === 0) docs.pop();
        for (const d of docs) {
          if (d.length === 0) continue;
          write(documentDraw(o.seed, docIndex++) < o.valFraction ? 'valid' : 'train', d);
        }
        task.increment(u.data.length, `${docIndex} docs`);
      }
      task.stop();
      for (const k of ['train', 'valid'] as const) { fsyncSync(fds[k]); closeSync(fds[k]); }
      commitTemp(tmp.train, targets.train);
      commitTemp(tmp.valid, targets.valid);
    } catch (e) {
      for (const k of ['train', 'valid'] as const) { try { closeSync(fds[k]); } catch { /* closed */ } discardTemp(tmp[k]); }
      throw e;
    }
    if (docIndex === 0) ctx.warn('the input holds no document');
    return {
      documents: docIndex,
      train: { path: targets.train, documents: counts.train, bytes: bytes.train },
      valid: { path: targets.valid, documents: counts.valid, bytes: bytes.valid },
    };
  },
});

await runIfMain(splitCorpus, import.meta.url);
