/**
 * Piscina worker for the encode stage: builds its unit encoder once from
 * `workerData` (an `EncoderSpec` and the engine: native when the addon is
 * built, else TypeScript; `native-tokenizer.ts`), then encodes each work
 * unit it is given. The unit's buffer arrives moved (not copied) and goes
 * back holding the ids (written over the text once it is encoded, when they
 * fit; else a new array).
 */
import { move, workerData } from 'piscina';
import { isMainThread } from 'node:worker_threads';
import type { EncoderSpec } from './bpe-encode.ts';
import type { TokenIds } from './bpe-encode-unit.ts';
import { createUnitEncoder, type TokenizerEngine, type UnitEncoder } from './native-tokenizer.ts';

/** What each encode worker is started with. */
export interface EncodeWorkerData {
  spec: EncoderSpec;
  engine: TokenizerEngine;
}

const data = workerData as EncodeWorkerData | undefined;
const encoder: UnitEncoder | null = isMainThread || !data ? null : createUnitEncoder(data.spec, data.engine);

/** One work unit: UTF-8 bytes cut at a safe boundary. */
export interface EncodeTask {
  data: Uint8Array;
}

/** Encodes one work unit. */
export default function encodeTask(task: EncodeTask): TokenIds {
  const ids = (encoder as UnitEncoder).encodeUnit(task.data, task.data.buffer as ArrayBuffer);
  return move(ids as never) as unknown as TokenIds;
}
