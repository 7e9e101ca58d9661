/**
 * read-documents: the source stage of the document pipelines. Streams the
 * resolved --input files (or stdin) with `readInputs` and yields
 * document-aligned units, cut at the end of the last separator read so far
 * (leftmost matches, as a whole-text split finds them); the rest is carried
 * into the next read.
 *
 * Memory stays bounded for documents of any size: when the carried tail of
 * one document reaches a read chunk, it goes out as a unit marked
 * `continues: true` (less any possible start of a separator at its end, held
 * back, so a separator is never cut). The route sink streams such pieces;
 * the document stages join them first (`wholeDocuments`), so only they hold
 * a document whole. Each unit carries `docIndex`, the number of its first
 * non-empty document over all inputs.
 */
import type { Stage } from '../pipeline/stage.ts';
import { allPlainText, readInputs, totalSize, type InputFile, type ReaderOptions } from './read-inputs.ts';
import { endedDocuments, lastDocumentEnd, partialSeparatorLength } from './documents.ts';
import { ownedConcat, ownedCopy, type Unit } from './items.ts';

const EMPTY = new Uint8Array(0);

export interface ReadDocumentsOptions {
  files: readonly InputFile[];
  /** Read chunk size in bytes. */
  chunkBytes: number;
  separator: string;
  /**
   * The reader's format options (src/stages/formats/); JSON Lines and
   * Parquet documents are joined with `separator` unless this gives another.
   * Its counters and warnings go to the stage's report.
   */
  reader?: ReaderOptions;
}

/** The read-documents stage (named `read`). */
export function readDocuments(o: ReadDocumentsOptions): Stage<void, Unit> {
  const sep = Buffer.from(o.separator, 'utf8');
  const total = allPlainText(o.files) ? totalSize(o.files) : -1;
  return {
    name: 'read',
    description: 'stream the --input files (fast-glob patterns, - for stdin) as document-aligned units',
    bytesOf: (u) => u.data.length,
    ...(total > 0 ? { totalBytes: total } : {}),
    async *run(_source, ctx) {
      const reader: ReaderOptions = { separator: o.separator, ...o.reader, count: (k, n) => ctx.count(k, n), warn: (m) => ctx.warn(m) };
      let seq = 0;
      let docIndex = 0;
      let inDoc = false;
      let held: Uint8Array = EMPTY;
      const unit = (file: string, offset: number, data: Uint8Array, last: boolean, continues: boolean): Unit => {
        const u: Unit = { seq: seq++, file, offset, data, last, docIndex, ...(continues ? { continues } : {}) };
        const r = endedDocuments(data, sep, inDoc, continues);
        docIndex += r.ended;
        inDoc = r.inDoc;
        return u;
      };
      for await (const chunk of readInputs(o.files, o.chunkBytes, reader)) {
        const buf = held.length > 0 ? ownedConcat([held, chunk.data]) : chunk.data;
        const base = chunk.offset - held.length;
        held = EMPTY;
        if (chunk.last) {
          if (buf.length > 0 || inDoc) yield unit(chunk.file, base, buf, true, false);
          continue;
        }
        // Each unit out owns its buffer: what stays behind, or goes out as a second unit, is copied first.
        const cut = lastDocumentEnd(buf, sep);
        let tail = cut > 0 ? ownedCopy(buf.subarray(cut)) : buf;
        if (cut > 0) yield unit(chunk.file, base, buf.subarray(0, cut), false, false);
        if (tail.length >= o.chunkBytes) {
          const piece = tail.length - partialSeparatorLength(tail, sep);
          const rest = ownedCopy(tail.subarray(piece));
          if (piece > 0) yield unit(chunk.file, base + cut, tail.subarray(0, piece), false, true);
          tail = rest;
        }
        held = tail;
      }
    },
  };
}
