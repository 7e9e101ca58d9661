/**
 * Piscina worker for the encode stage: builds the encoder once from the
 * tables passed as `workerData` (an `EncoderSpec`), then encodes each work
 * unit it is given. The unit's bytes arrive moved (not copied); the ids go
 * back moved too.
 */
import { move, workerData } from 'piscina';
import { isMainThread } from 'node:worker_threads';
import { BpeEncoder, type EncoderSpec } from './bpe-encode.ts';
import { encodeUnit, type TokenIds } from './bpe-encode-unit.ts';

const encoder = isMainThread ? null : new BpeEncoder(workerData as EncoderSpec);

/** One work unit: UTF-8 bytes cut at a safe boundary. */
export interface EncodeTask {
  data: Uint8Array;
}

/** Encodes one work unit. */
export default function encodeTask(task: EncodeTask): TokenIds {
  // The unit's buffer was moved here: the ids go back in it.
  const ids = encodeUnit(encoder as BpeEncoder, task.data, true);
  return move(ids as never) as unknown as TokenIds;
}
