/**
 * doc-stats: an example of a pipeline written only from lmpipe's exported
 * stages plus one stage of its own. It reads corpus files, optionally drops
 * short or duplicate documents with the stock stages, and reports per file
 * how many documents and bytes are left and the longest document.
 *
 *   npx tsx examples/doc-stats.ts --input 'corpus/*.txt' --dedup --min-doc-bytes 100
 *
 * The body of `run` is the declaration: `chain(read, filter, dedup, stats)`.
 * The `stats` sink below is the whole of what a new stage takes: a name, a
 * description, and a function over the items it receives.
 */
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { chain, passThrough, runChain } from '../src/pipeline/stage.ts';
import type { Sink } from '../src/pipeline/stage.ts';
import { dedupDocs } from '../src/stages/dedup-docs.ts';
import { wholeDocuments, unitDocuments } from '../src/stages/documents.ts';
import { filterDocs } from '../src/stages/filter-docs.ts';
import type { Unit } from '../src/stages/items.ts';
import { readDocuments } from '../src/stages/read-documents.ts';
import { resolveInputs } from '../src/stages/read-inputs.ts';

/** Per-file figures. */
interface FileStats {
  documents: number;
  bytes: number;
  longest_document_bytes: number;
}

/** A sink counting the documents and bytes of each file (it holds one document at a time). */
function docStats(separator: string): Sink<Unit, Record<string, FileStats>> {
  const sep = new TextEncoder().encode(separator);
  return {
    name: 'stats',
    description: 'count documents and bytes per file, note the longest document',
    async consume(source) {
      const perFile: Record<string, FileStats> = {};
      // wholeDocuments joins a document that the reader sent in pieces.
      for await (const unit of wholeDocuments(source, sep)) {
        const s = (perFile[unit.file] ??= { documents: 0, bytes: 0, longest_document_bytes: 0 });
        for (const d of unitDocuments(unit.data, sep)) {
          if (d.end === d.start) continue; // empty documents do not count
          s.documents++;
          s.bytes += d.end - d.start;
          s.longest_document_bytes = Math.max(s.longest_document_bytes, d.end - d.start);
        }
      }
      return perFile;
    },
  };
}

export const docStatsPipeline = definePipeline({
  name: 'doc-stats',
  script: 'examples/doc-stats.ts',
  description: 'per-file document counts and bytes, after optional filtering and deduplication (an example pipeline)',
  stages: [
    { name: 'read', description: 'stream the --input files as document-aligned units' },
    { name: 'filter-docs', description: 'drop documents under --min-doc-bytes (when given)' },
    { name: 'dedup-docs', description: 'drop exact duplicate documents (with --dedup)' },
    { name: 'stats', description: 'count documents and bytes per file' },
  ],
  options: {
    input: { type: 'string', multiple: true, required: true, short: 'i', placeholder: 'GLOB', description: 'corpus files (glob; repeatable; - for stdin)' },
    separator: { type: 'string', default: '<|endoftext|>', placeholder: 'TOKEN', description: 'document separator' },
    minDocBytes: { type: 'int', default: 0, min: 0, placeholder: 'N', description: 'drop documents shorter than this' },
    dedup: { type: 'boolean', description: 'drop exact duplicate documents' },
  },
  examples: ["npx tsx examples/doc-stats.ts --input 'corpus/*.txt' --dedup --min-doc-bytes 100"],
  async run(o, ctx) {
    const files = await resolveInputs(o.input);
    const { result, stages } = await runChain(chain(
      readDocuments({ files, chunkBytes: 4 << 20, separator: o.separator }),
      o.minDocBytes > 0 ? filterDocs({ separator: o.separator, minDocBytes: o.minDocBytes }) : passThrough<Unit>('filter-docs'),
      o.dedup ? dedupDocs({ separator: o.separator }) : passThrough<Unit>('dedup-docs'),
      docStats(o.separator),
    ), { signal: ctx.signal, log: ctx.log, warn: ctx.warn, progress: ctx.progress });
    return { files: result, stages };
  },
});

await runIfMain(docStatsPipeline, import.meta.url);
