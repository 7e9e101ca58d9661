/**
 * A write that ran out of space (ENOSPC), quota (EDQUOT) or file size limit
 * (EFBIG) becomes one line naming the file, how much it needed and how
 * much is free, instead of a stack trace. Writers throw it where the write
 * failed, remove their temporary, then `settle` it: the free space is
 * measured again (the temporary's space is back) and the message says
 * whether a previous output was kept.
 */
import { existsSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from '../pipeline/errors.ts';
import { formatBytes } from './temporaries.ts';

const CODES: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large for this file system',
};

/** True when `e` is a failed write for lack of space, quota or file size. */
export function isDiskFull(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && (e as NodeJS.ErrnoException).code as string in CODES;
}

/** Free bytes for this user on the file system holding `path` (or its nearest existing parent); null if unknown. */
export function freeBytes(path: string): number | null {
  let p = resolve(path);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  try {
    const s = statfsSync(p);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

/** Details of a DiskFullError. */
export interface DiskFullOptions {
  /** `needBytes` is a lower bound (a stream whose final size is unknown). */
  atLeast?: boolean;
  /** Byte offset in the file where the write failed. */
  offset?: number;
  /** What was kept, instead of "nothing was written". */
  note?: string;
}

/** A write that failed for lack of space: one line naming the file, the need and the free space. */
export class DiskFullError extends UserError {
  /** The output file (its final name, not the temporary's). */
  file: string;
  readonly code: string;
  /** Bytes the output needs: all of it, or (streams) at least this much. */
  needBytes: number;
  readonly atLeast: boolean;
  /** Byte offset in `file` where the write failed, when streaming. */
  readonly offset: number | null;
  /** The output `needBytes` is for, when more than `file` (a directory written as a whole). */
  whole: string | null = null;
  private note = 'nothing was written';

  constructor(file: string, code: string, needBytes: number, opts: DiskFullOptions = {}) {
    super('');
    this.name = 'DiskFullError';
    this.file = file;
    this.code = code;
    this.needBytes = needBytes;
    this.atLeast = opts.atLeast ?? false;
    this.offset = opts.offset ?? null;
    if (opts.note) this.note = opts.note;
    this.settle();
  }

  /**
   * Measures the free space again (call it after removing the temporary)
   * and rebuilds the message; `kept` names a previous output left intact.
   */
  settle(kept?: string | null): this {
    if (kept) this.note = `the previous ${kept} is intact`;
    const free = freeBytes(dirname(this.file));
    const at = this.offset !== null ? ` at byte ${this.offset}` : '';
    const need = `needs ${this.atLeast ? 'more than ' : ''}${formatBytes(this.needBytes)}${this.whole ? ` for ${this.whole}` : ''}`;
    const has = free === null ? '' : `, ${formatBytes(free)} free on its file system`;
    this.message = `cannot write ${this.file}${at}: ${CODES[this.code] ?? this.code} (${need}${has}); ${this.note}; free some space or write the output elsewhere`;
    return this;
  }
}

/**
 * `e` as a DiskFullError for `file` when it is a disk-full error (a
 * DiskFullError passes through), else `e` unchanged.
 */
export function asDiskFull(e: unknown, file: string, needBytes: number, opts: DiskFullOptions = {}): unknown {
  if (e instanceof DiskFullError || !isDiskFull(e)) return e;
  return new DiskFullError(file, e.code as string, needBytes, opts);
}
