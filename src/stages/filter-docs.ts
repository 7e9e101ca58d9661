/**
 * filter-docs: drops documents shorter than a byte count, or (not) matching a
 * regular expression, from document-aligned units. Counts what it dropped.
 * Kept documents keep their numbers (`Unit.docs`), so a seeded split of them
 * does not depend on what was dropped.
 */
import { UserError } from '../pipeline/errors.ts';
import type { Stage } from '../pipeline/stage.ts';
import { keptUnit, unitDocuments, wholeDocuments } from './documents.ts';
import type { DocSpan } from './documents.ts';
import type { Unit } from './items.ts';

export interface FilterDocsOptions {
  /** The document separator (the end-of-text special token). */
  separator: string;
  /** Drop documents with fewer bytes than this (0: keep all). */
  minDocBytes?: number;
  /** Keep only documents matching this (JavaScript) regular expression. */
  keepRegex?: string;
  /** Drop documents matching this regular expression. */
  dropRegex?: string;
}

/** True when the options ask for any filtering. */
export function filterDocsEnabled(o: FilterDocsOptions): boolean {
  return (o.minDocBytes ?? 0) > 0 || o.keepRegex !== undefined || o.dropRegex !== undefined;
}

function compile(flag: string, source: string | undefined): RegExp | null {
  if (source === undefined) return null;
  try {
    return new RegExp(source, 'u');
  } catch (e) {
    throw new UserError(`${flag} ${JSON.stringify(source)} is not a valid regular expression (${(e as Error).message.split('\n')[0]})`);
  }
}

/** The filter-docs stage. */
export function filterDocs(o: FilterDocsOptions): Stage<Unit, Unit> {
  const sep = new TextEncoder().encode(o.separator);
  const minBytes = o.minDocBytes ?? 0;
  const keep = compile('--keep-regex', o.keepRegex);
  const drop = compile('--drop-regex', o.dropRegex);
  const decoder = new TextDecoder();
  return {
    name: 'filter-docs',
    description: `drop documents${minBytes > 0 ? ` under ${minBytes} bytes` : ''}${keep ? ` not matching /${keep.source}/` : ''}${drop ? ` matching /${drop.source}/` : ''}`,
    bytesOf: (u) => u.data.length,
    async *run(source, ctx) {
      for await (const unit of wholeDocuments(source, sep)) {
        const docs = unitDocuments(unit.data, sep);
        const kept = docs.flatMap((d, i) => (keepDoc(d) ? [i] : []));
        function keepDoc(d: DocSpan): boolean {
          if (d.end - d.start < minBytes) { ctx.count('dropped_short'); return false; }
          if (keep || drop) {
            const text = decoder.decode(unit.data.subarray(d.start, d.end));
            if (keep && !keep.test(text)) { ctx.count('dropped_not_matching'); return false; }
            if (drop && drop.test(text)) { ctx.count('dropped_matching'); return false; }
          }
          return true;
        }
        ctx.count('documents_in', docs.length);
        ctx.count('documents_out', kept.length);
        if (kept.length === docs.length) { yield unit; continue; }
        const out = keptUnit(unit, docs, kept, sep);
        ctx.count('bytes_dropped', unit.data.length - out.data.length);
        yield out;
      }
    },
  };
}
