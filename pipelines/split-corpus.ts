/**
 * split-corpus: route the documents of a corpus (separated by a special
 * token such as <|endoftext|>) into train and validation text files, by a
 * seeded per-document draw, optionally dropping short, (non-)matching or
 * duplicate documents first. A chain of stages (src/stages/): read-documents,
 * filter-docs, dedup-docs, route-documents. Streams; with the document stages
 * off, memory is a few read chunks whatever the size of a document (each is
 * routed at its first byte and streamed to its side whole, never cut); with
 * one on, the longest document is held whole.
 *
 *   npx tsx pipelines/split-corpus.ts --input corpus.txt --val-fraction 0.1 --out-dir out/data
 */
import { formatOptions } from '../src/pipeline/common-options.ts';
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { readerOptions } from '../src/stages/formats/index.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { chain, passThrough, runChain } from '../src/pipeline/stage.ts';
import { dedupDocs } from '../src/stages/dedup-docs.ts';
import { filterDocs, filterDocsEnabled } from '../src/stages/filter-docs.ts';
import type { Unit } from '../src/stages/items.ts';
import { readDocuments } from '../src/stages/read-documents.ts';
import { routeDocuments } from '../src/stages/route-documents.ts';
import { resolveInputs } from '../src/stages/read-inputs.ts';

export { splitWarnings } from '../src/stages/route-documents.ts';

export const splitCorpus = definePipeline({
  name: 'split-corpus',
  description: 'split a corpus into train and validation text files by document',
  stages: [
    { name: 'read', description: 'stream the --input files (fast-glob patterns, - for stdin) as document-aligned units' },
    { name: 'filter-docs', description: 'drop documents under --min-doc-bytes, not matching --keep-regex, or matching --drop-regex (off unless asked)' },
    { name: 'dedup-docs', description: 'drop exact duplicate documents, keeping the first (with --dedup)' },
    { name: 'route', description: 'send each document to train.txt or valid.txt by a seeded draw on its number (temp files renamed at the end)' },
  ],
  options: {
    input: { type: 'string', multiple: true, required: true, short: 'i', placeholder: 'GLOB', description: 'input files (glob; repeatable; - for stdin)' },
    separator: { type: 'string', default: '<|endoftext|>', placeholder: 'TOKEN', description: 'document separator' },
    valFraction: { type: 'number', default: 0.1, min: 0, max: 1, placeholder: 'F', description: 'fraction of documents for validation' },
    seed: { type: 'int', default: 0, description: 'seed of the per-document draw' },
    outDir: { type: 'string', required: true, placeholder: 'DIR', description: 'output directory for train.txt and valid.txt' },
    chunkMb: { type: 'number', default: 4, min: 0.0001, description: 'read chunk size in MB' },
    minDocBytes: { type: 'int', default: 0, min: 0, placeholder: 'N', description: 'drop documents shorter than N bytes' },
    keepRegex: { type: 'string', placeholder: 'RE', description: 'keep only documents matching this JavaScript regular expression' },
    dropRegex: { type: 'string', placeholder: 'RE', description: 'drop documents matching this JavaScript regular expression' },
    dedup: { type: 'boolean', description: 'drop exact duplicate documents (the first is kept)' },
    dedupMaxMb: { type: 'number', default: 256, min: 1, placeholder: 'N', description: 'memory for the --dedup hash table in MB' },
    ...formatOptions,
  },
  examples: [
    'npx tsx pipelines/split-corpus.ts --input ../shared/corpora/tinystories.txt --val-fraction 0.1 --out-dir out/data',
    'npx tsx pipelines/split-corpus.ts --input corpus.txt --min-doc-bytes 200 --dedup --out-dir out/data',
  ],
  validate(o) {
    if (o.separator.length === 0) throw new UserError('--separator must not be empty');
  },
  async run(o, ctx) {
    const files = await resolveInputs(o.input);
    const filter = { separator: o.separator, minDocBytes: o.minDocBytes, keepRegex: o.keepRegex, dropRegex: o.dropRegex };
    const filtering = filterDocsEnabled(filter);
    const dedup = o.dedup === true;
    const c = chain(
      readDocuments({ files, chunkBytes: Math.round(o.chunkMb * 1e6), separator: o.separator, reader: readerOptions(o, o.separator) }),
      filtering ? filterDocs(filter) : passThrough<Unit>('filter-docs'),
      dedup ? dedupDocs({ separator: o.separator, maxMb: o.dedupMaxMb }) : passThrough<Unit>('dedup-docs'),
      routeDocuments({ separator: o.separator, outDir: o.outDir, valFraction: o.valFraction, seed: o.seed, inputs: files, dropping: filtering || dedup }),
    );
    const { result, stages } = await runChain(c, { signal: ctx.signal, log: (m) => ctx.log(m), warn: (m) => ctx.warn(m), progress: ctx.progress });
    return { ...result, stages };
  },
});

await runIfMain(splitCorpus, import.meta.url);
