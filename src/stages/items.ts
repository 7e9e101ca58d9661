/**
 * The items that flow between stages. Each is owned by the stage that
 * receives it: the sender never touches an item's buffers again.
 */
import type { TokenIds } from '../tokenizer/bpe-encode-chunk.ts';

/** Raw bytes of one input, in order; `last` marks the end of that input. */
export interface Chunk {
  /** The input's path, or `-` for stdin. */
  file: string;
  /** Byte offset of `data` in its file. */
  offset: number;
  data: Uint8Array;
  last: boolean;
}

/**
 * A work unit: bytes of one input that can be processed on their own
 * (they end at a safe cut, see stages/cut.ts), numbered in stream order.
 * With document-aligned cuts a unit is whole documents, each followed by the
 * separator except, at the end of an input, the last.
 */
export interface Unit {
  seq: number;
  file: string;
  offset: number;
  data: Uint8Array;
  /** True when the unit ends where its input ends. */
  last: boolean;
}

/** The token ids of one unit and where its bytes came from. */
export interface Ids {
  ids: TokenIds;
  /** Input bytes the ids stand for. */
  bytes: number;
  file: string;
  offset: number;
}
