/**
 * The split stage: turns the read stage's arbitrary byte chunks into work
 * units that end where cutting cannot change the result (after a special
 * token, or where the pretokenizer itself would split). Only the unfinished
 * tail is carried over, so memory is one chunk plus that tail.
 */
import type { ByteChunk } from './read.ts';

/** A self-contained piece of text bytes, numbered in stream order. */
export interface WorkUnit {
  seq: number;
  file: string;
  /** Byte offset of `data` in its file. */
  offset: number;
  data: Buffer;
}

/**
 * Returns the largest index `i <= buf.length` such that `buf[0, i)` can be
 * processed independently of what follows, or 0 when there is none yet.
 */
export type FindCut = (buf: Buffer) => number;

export interface RechunkOptions {
  findCut: FindCut;
  /**
   * If the carried tail grows past this many bytes without a safe cut
   * (pathological input: megabytes without a split point), cut anyway and
   * report it through `onForcedCut` rather than hold unbounded memory.
   */
  maxCarryBytes?: number;
  /**
   * Called before a forced cut at `offset` (the end of the tail) of `file`;
   * `start` is the tail's first byte. It may throw to refuse the input instead.
   */
  onForcedCut?: (file: string, offset: number, start: number) => void;
}

/** Async-generator transform from byte chunks to work units. */
export function rechunk(options: RechunkOptions): (source: AsyncIterable<ByteChunk>) => AsyncGenerator<WorkUnit> {
  const maxCarry = options.maxCarryBytes ?? 64 << 20;
  return async function* (source) {
    let seq = 0;
    let carry: Buffer | null = null;
    let carryOffset = 0;
    for await (const chunk of source) {
      let buf: Buffer;
      if (carry && carry.length > 0) {
        buf = Buffer.concat([carry, chunk.data]);
      } else {
        buf = chunk.data;
        carryOffset = chunk.offset;
      }
      if (chunk.last) {
        if (buf.length > 0) yield { seq: seq++, file: chunk.file, offset: carryOffset, data: buf };
        carry = null;
        continue;
      }
      let cut = options.findCut(buf);
      if (cut <= 0 && buf.length > maxCarry) {
        cut = buf.length;
        options.onForcedCut?.(chunk.file, carryOffset + cut, carryOffset);
      }
      if (cut > 0) {
        yield { seq: seq++, file: chunk.file, offset: carryOffset, data: buf.subarray(0, cut) };
        // Copy the tail so the large chunk buffer can be released.
        carry = Buffer.from(buf.subarray(cut));
        carryOffset += cut;
      } else {
        carry = buf;
      }
    }
    if (carry && carry.length > 0) {
      throw new Error('rechunk: input ended without a last chunk');
    }
  };
}
