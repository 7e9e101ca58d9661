/**
 * sample-docs: keeps each document with probability `fraction`, by a seeded
 * draw on its number (`documentDraw`), so the sample is uniform over
 * documents and the same for any chunking. Takes document-aligned units
 * (read-documents) and hands on one unit per piece of a kept document, its
 * separators left out: `continues` marks a piece that the next unit goes on
 * with. A document is never held whole, however long.
 */
import type { Stage } from '../pipeline/stage.ts';
import { documentDraw } from './documents.ts';
import { ownedCopy, type Unit } from './items.ts';

export interface SampleDocsOptions {
  separator: string;
  /** Probability of keeping a document, in [0, 1]. */
  fraction: number;
  seed: number;
}

/** The sample-docs stage. */
export function sampleDocs(o: SampleDocsOptions): Stage<Unit, Unit> {
  const sep = Buffer.from(o.separator, 'utf8');
  return {
    name: 'sample-docs',
    description: `keep each document with probability ${o.fraction} (seeded draw on its number)`,
    bytesOf: (u) => u.data.length,
    async *run(source, ctx) {
      let index = 0;
      let seq = 0;
      // The document in progress at the end of the last unit, if any.
      let open: { keep: boolean; offset: number } | null = null;
      for await (const u of source) {
        const buf = Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength);
        let pos = 0;
        for (;;) {
          const i = buf.indexOf(sep, pos);
          const end = i < 0 ? buf.length : i;
          if (end > pos) {
            if (open === null) {
              const keep = documentDraw(o.seed, index++) < o.fraction;
              open = { keep, offset: u.offset + pos };
              ctx.count('documents_in');
              if (keep) ctx.count('documents_out');
            }
            // The document goes on past this piece unless a separator or the input's end follows.
            const goesOn = i < 0 && !u.last;
            if (open.keep) yield { seq: seq++, file: u.file, offset: open.offset, data: ownedCopy(buf.subarray(pos, end)), last: u.last && i < 0, ...(goesOn ? { continues: true } : {}) };
          } else if (open !== null && open.keep && (i >= 0 || u.last)) {
            // The document in progress ends right here: close it with an empty last piece.
            yield { seq: seq++, file: u.file, offset: open.offset, data: new Uint8Array(0), last: u.last && i < 0 };
          }
          if (i < 0) {
            if (u.last) open = null;
            break;
          }
          open = null;
          pos = i + sep.length;
        }
      }
    },
  };
}
