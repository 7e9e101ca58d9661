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
 * Sharded (`--shard I/N|auto`, with `--draw-by content`): this process splits
 * the documents of its byte range of the input (cut between documents) into
 * OUT/train/part-i-of-n.txt and OUT/valid/part-i-of-n.txt, then writes
 * OUT/part-i-of-n.json last, as the completion marker a rerun checks. Each
 * document in a part is followed by the separator, so the parts concatenated
 * in order are the one-process split (same --draw-by content) plus a final
 * separator; `encode -i 'OUT/train/*.txt'` reads them in that order.
 *
 *   npx tsx pipelines/split-corpus.ts --input corpus.txt --val-fraction 0.1 --out-dir out/data
 */
import { join } from 'node:path';
import { formatOptions, shardOptions } from '../src/pipeline/common-options.ts';
import { partName, resolveShard } from '../src/pipeline/shard.ts';
import { shardInputs } from '../src/stages/shard-inputs.ts';
import { SpecialMatcher } from '../src/tokenizer/special-matcher.ts';
import { completedSplitPart, writeSplitPartMarker, type SplitPartSpec } from '../src/stages/split-parts.ts';
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
    { name: 'route', description: 'send each document to train.txt or valid.txt by a seeded draw on its number or its bytes (temp files renamed at the end)' },
  ],
  options: {
    input: { type: 'string', multiple: true, required: true, short: 'i', placeholder: 'GLOB', description: 'input files (glob; repeatable; - for stdin)' },
    separator: { type: 'string', default: '<|endoftext|>', placeholder: 'TOKEN', description: 'document separator' },
    valFraction: { type: 'number', default: 0.1, min: 0, max: 1, placeholder: 'F', description: 'fraction of documents for validation' },
    seed: { type: 'int', default: 0, description: 'seed of the per-document draw' },
    drawBy: { type: 'string', default: 'number', choices: ['number', 'content'], placeholder: 'WHAT', description: "what each document's draw is on: its number in the corpus, or its bytes (content: the same side in any shard layout and for every copy of a document; holds each document whole)" },
    outDir: { type: 'string', required: true, placeholder: 'DIR', description: 'output directory for train.txt and valid.txt' },
    chunkMb: { type: 'number', default: 4, min: 0.0001, description: 'read chunk size in MB' },
    minDocBytes: { type: 'int', default: 0, min: 0, placeholder: 'N', description: 'drop documents shorter than N bytes' },
    keepRegex: { type: 'string', placeholder: 'RE', description: 'keep only documents matching this JavaScript regular expression' },
    dropRegex: { type: 'string', placeholder: 'RE', description: 'drop documents matching this JavaScript regular expression' },
    dedup: { type: 'boolean', description: 'drop exact duplicate documents (the first is kept)' },
    dedupMaxMb: { type: 'number', default: 256, min: 1, placeholder: 'N', description: 'memory for the --dedup hash table in MB' },
    ...formatOptions,
    shard: { ...shardOptions.shard, description: 'split shard I of N (0-based) of the input, cut between documents, or auto: the index from the batch engine (LMPIPE_SHARD, SLURM_ARRAY_TASK_ID, BATCH_TASK_INDEX, JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX, PARALLEL_SEQ); needs --draw-by content; --out-dir then gets train/ and valid/ directories of parts' },
    shardCount: shardOptions.shardCount,
  },
  examples: [
    'npx tsx pipelines/split-corpus.ts --input ../shared/corpora/tinystories.txt --val-fraction 0.1 --out-dir out/data',
    'npx tsx pipelines/split-corpus.ts --input corpus.txt --min-doc-bytes 200 --dedup --out-dir out/data',
    "sbatch --array=0-15 --wrap \"npx tsx pipelines/split-corpus.ts -i 'corpus/*.txt' --draw-by content --shard auto --out-dir out/split\"",
  ],
  validate(o) {
    if (o.separator.length === 0) throw new UserError('--separator must not be empty');
  },
  async run(o, ctx) {
    const allFiles = await resolveInputs(o.input);
    const shard = resolveShard(o.shard, o.shardCount);
    const drawBy = o.drawBy as 'number' | 'content';
    if (shard && drawBy !== 'content') {
      throw new UserError("--shard needs --draw-by content: a shard cannot know its documents' numbers in the whole corpus, so it draws on each document's bytes instead (the same side in any shard layout)");
    }
    const filter = { separator: o.separator, minDocBytes: o.minDocBytes, keepRegex: o.keepRegex, dropRegex: o.dropRegex };
    const filtering = filterDocsEnabled(filter);
    const dedup = o.dedup === true;
    if (shard && dedup) ctx.warn('--dedup with --shard drops the duplicates within this shard only (each shard remembers its own documents)');
    const files = shard ? await shardInputs(allFiles, shard, new SpecialMatcher([o.separator]), Buffer.from(o.separator, 'utf8')) : allFiles;
    const part = shard ? partName(shard.index, shard.count) : '';
    const spec: SplitPartSpec | null = shard ? {
      shard: { index: shard.index, count: shard.count, inputs: files.map((f) => ({ file: f.path, start: f.start ?? 0, end: f.end ?? f.size })) },
      options: { separator: o.separator, valFraction: o.valFraction, seed: o.seed, drawBy, minDocBytes: o.minDocBytes, keepRegex: o.keepRegex ?? null, dropRegex: o.dropRegex ?? null, dedup, textField: o.textField },
    } : null;
    const targets = shard ? { train: join(o.outDir, 'train', `${part}.txt`), valid: join(o.outDir, 'valid', `${part}.txt`) } : undefined;
    const marker = join(o.outDir, `${part}.json`);
    if (spec && targets) {
      const done = completedSplitPart(marker, spec, targets);
      if (done) {
        ctx.log(`${part} is already complete (${done.train.documents} + ${done.valid.documents} documents, same input ranges and options): skipped`);
        return { skipped: true, shard: { ...spec.shard, source: shard?.source }, documents: done.train.documents + done.valid.documents, train: done.train, valid: done.valid };
      }
    }
    const c = chain(
      readDocuments({ files, chunkBytes: Math.round(o.chunkMb * 1e6), separator: o.separator, reader: readerOptions(o, o.separator) }),
      filtering ? filterDocs(filter) : passThrough<Unit>('filter-docs'),
      dedup ? dedupDocs({ separator: o.separator, maxMb: o.dedupMaxMb }) : passThrough<Unit>('dedup-docs'),
      routeDocuments({
        separator: o.separator, outDir: o.outDir, valFraction: o.valFraction, seed: o.seed, inputs: allFiles, dropping: filtering || dedup,
        drawBy, ...(targets ? { targets, trailingSeparator: true, warnEmptySide: false } : {}),
      }),
    );
    const { result, stages } = await runChain(c, { signal: ctx.signal, log: (m) => ctx.log(m), warn: (m) => ctx.warn(m), progress: ctx.progress });
    // The marker is written last: a part with a matching marker is complete.
    if (spec) writeSplitPartMarker(marker, spec, result);
    return { ...result, draw_by: drawBy, ...(spec ? { shard: { ...spec.shard, source: shard?.source } } : {}), stages };
  },
});

await runIfMain(splitCorpus, import.meta.url);
