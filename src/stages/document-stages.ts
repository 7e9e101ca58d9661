/**
 * The document section of a corpus pipeline, built from the document flags
 * (`documentOptions` in common-options.ts): the source (plain `read`, or
 * `read-documents` when a document stage is on, since those stages need
 * document-aligned units) and the filter-docs and dedup-docs stages (pass-
 * throughs when off, so the ids or merges are those of the plain run).
 */
import { UserError } from '../pipeline/errors.ts';
import { passThrough, type Stage } from '../pipeline/stage.ts';
import type { InputFile, ReaderOptions } from './read-inputs.ts';
import { dedupDocs } from './dedup-docs.ts';
import { filterDocs, filterDocsEnabled } from './filter-docs.ts';
import type { Unit } from './items.ts';
import { readDocuments } from './read-documents.ts';
import { readFiles } from './read.ts';

/** The document flags' values. */
export interface DocumentFlags {
  minDocBytes: number;
  keepRegex?: string;
  dropRegex?: string;
  dedup?: boolean;
  dedupMaxMb: number;
}

/** The source, filter-docs and dedup-docs stages of a corpus pipeline. */
export interface DocumentSection {
  /** True when a document stage is on. */
  on: boolean;
  source: Stage<void, Unit>;
  filter: Stage<Unit, Unit>;
  dedup: Stage<Unit, Unit>;
}

/**
 * Builds the section. `separator` is the document separator (the end-of-text
 * special token); it is needed only when a document stage is on, and its
 * absence is then a UserError saying how to give one. `reader` is the
 * reader's format options (`readerOptions(flags, separator)` of
 * src/stages/formats/index.ts), given to whichever source is built; without
 * it the reader still joins JSON Lines / Parquet documents with `separator`.
 */
export function documentSection(files: readonly InputFile[], chunkBytes: number, flags: DocumentFlags, separator: string | undefined, reader?: ReaderOptions): DocumentSection {
  const filter = { separator: separator ?? '', minDocBytes: flags.minDocBytes, keepRegex: flags.keepRegex, dropRegex: flags.dropRegex };
  const filtering = filterDocsEnabled(filter);
  const dedup = flags.dedup === true;
  const on = filtering || dedup;
  if (on && (separator === undefined || separator.length === 0)) {
    throw new UserError(`${filtering ? 'the document filter (--min-doc-bytes, --keep-regex, --drop-regex)' : '--dedup'} needs a document separator: pass --separator TOKEN (e.g. '<|endoftext|>')`);
  }
  const sep = separator ?? '';
  return {
    on,
    source: on ? readDocuments({ files, chunkBytes, separator: sep, ...(reader ? { reader } : {}) }) : readFiles({ files, chunkBytes, reader: reader ?? (separator ? { separator } : {}) }),
    filter: filtering ? filterDocs(filter) : passThrough<Unit>('filter-docs'),
    dedup: dedup ? dedupDocs({ separator: sep, maxMb: flags.dedupMaxMb }) : passThrough<Unit>('dedup-docs'),
  };
}
