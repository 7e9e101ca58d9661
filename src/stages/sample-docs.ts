/**
 * sample-docs: keeps each document with probability `fraction`, by a seeded
 * draw on its number (`documentDraw`), so the sample is uniform over
 * documents and the same for any chunking. Takes document-aligned units
 * (read-documents) and hands on one unit per piece of a kept document, its
 * separators left out: `continues` marks a piece that the next unit goes on
 * with. A document is never held whole, however long.
 */
import type { Stage } from '../pipeline/stage.ts';
import { documentDraw, unitDocuments } from './documents.ts';
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
      const piece = (u: Unit, data: Uint8Array, last: boolean, continues: boolean): Unit => ({
        seq: seq++, file: u.file, offset: (open as { offset: number }).offset, data, last, ...(continues ? { continues } : {}),
      });
      for await (const u of source) {
        const spans = unitDocuments(u.data, sep);
        for (const [k, d] of spans.entries()) {
          const end = !d.separated && k === spans.length - 1;
          // The last span of a unit goes on in the next one unless the input ends here.
          const goesOn = end && !u.last;
          if (d.end > d.start && open === null) {
            const keep = documentDraw(o.seed, index++) < o.fraction;
            open = { keep, offset: u.offset + d.start };
            ctx.count('documents_in');
            if (keep) ctx.count('documents_out');
          }
          if (open === null) continue; // an empty piece between two separators
          // An empty piece closes a document that ended right at the unit's start.
          if (open.keep) yield piece(u, d.end > d.start ? ownedCopy(u.data.subarray(d.start, d.end)) : new Uint8Array(0), u.last && end, goesOn);
          if (!goesOn) open = null;
        }
        // An input that ends right after a separator (or an empty last unit) closes what is open.
        if (u.last && open !== null) {
          if (open.keep) yield piece(u, new Uint8Array(0), true, false);
          open = null;
        }
      }
    },
  };
}
