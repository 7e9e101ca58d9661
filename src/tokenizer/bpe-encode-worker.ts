/**
 * Piscina worker for parallel encoding: builds the encoder once from the
 * tables passed as `workerData` (an `EncoderSpec`), then encodes each work
 * unit it is given. The ids are moved back, and so is the input buffer, for
 * the main thread to reuse; the ids go into a recycled buffer when the task
 * brings one. No buffer is left behind as garbage here, which keeps each
 * worker's memory flat however much text goes through.
 */
import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import { BpeEncoder, type EncoderSpec } from './bpe-encode.ts';
import { encodeChunk, type TokenIds } from './bpe-encode-chunk.ts';

const encoder = new BpeEncoder(workerData as EncoderSpec);

/** One work unit: UTF-8 bytes cut at a safe boundary, and optionally a buffer to write the ids into. */
export interface EncodeTask {
  input: Uint8Array;
  out: ArrayBuffer | null;
}

/** What a task returns: the ids, and the input bytes handed back for reuse. */
export interface EncodeResult {
  ids: TokenIds;
  input: Uint8Array;
}

/** Encodes one work unit. */
export default function encodeTask(task: EncodeTask): EncodeResult {
  const ids = encodeChunk(encoder, task.input, task.out);
  const input = task.input;
  const result = {
    get [transferableSymbol](): ArrayBufferLike[] {
      return [ids.buffer, input.buffer];
    },
    get [valueSymbol](): EncodeResult {
      return { ids, input };
    },
  };
  return move(result as never) as unknown as EncodeResult;
}
