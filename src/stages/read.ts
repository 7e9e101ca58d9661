/**
 * read: the source stage of the byte pipelines. Streams the resolved
 * --input files (fast-glob patterns, `-` for stdin, byte ranges) with
 * `readInputs`, one input after another, as units of about `chunkBytes`;
 * the last unit of each input is marked `last`. Each unit owns its buffer.
 */
import type { Stage } from '../pipeline/stage.ts';
import { readInputs, totalSize, type InputFile } from './read-inputs.ts';
import type { Unit } from './items.ts';

export interface ReadOptions {
  files: readonly InputFile[];
  /** Read size in bytes. */
  chunkBytes: number;
}

/** The read stage. */
export function readFiles(o: ReadOptions): Stage<void, Unit> {
  const total = totalSize(o.files);
  return {
    name: 'read',
    description: 'stream the --input files (fast-glob patterns, - for stdin)',
    bytesOf: (u) => u.data.length,
    ...(total > 0 ? { totalBytes: total } : {}),
    async *run() {
      let seq = 0;
      for await (const c of readInputs(o.files, o.chunkBytes)) yield { seq: seq++, file: c.file, offset: c.offset, data: c.data, last: c.last };
    },
  };
}
