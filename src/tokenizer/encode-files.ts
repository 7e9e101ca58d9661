/**
 * Encoding files from code: the encode pipeline's chain (read → cut →
 * encode) with a sink of the caller's, for tests, benchmarks and programs
 * that want the ids rather than a token file.
 */
import { chain, runChain, type Sink, type StageReport } from '../pipeline/stage.ts';
import { cutUnits } from '../stages/cut.ts';
import { encodeUnits, unitBytesFor } from '../stages/encode-units.ts';
import type { Ids } from '../stages/items.ts';
import { readFiles } from '../stages/read.ts';
import { totalSize, type InputFile } from '../stages/read-inputs.ts';
import { joinableJunctions, type EncoderSpec } from './bpe-encode.ts';
import { DEFAULT_ENCODE_MAX_PRETOKEN_BYTES, safeCutFinder } from './chunking.ts';
import { SpecialMatcher } from './special-matcher.ts';
import type { TokenizerEngine } from './tokenizer-engine.ts';

export interface EncodeFilesOptions {
  /** Worker threads; 0 encodes on the calling thread. */
  workers: number;
  /** Read size (default: the unit size). */
  readBytes?: number;
  /** Work unit size (default `unitBytesFor(total, workers)`). */
  unitBytes?: number;
  /** Longest stretch without a safe cut held whole (default DEFAULT_ENCODE_MAX_PRETOKEN_BYTES). */
  maxHeldBytes?: number;
  signal?: AbortSignal;
  /** The tokenizer core (default 'auto'). */
  engine?: TokenizerEngine;
}

/** The cut stage of encoding with `spec`'s tokenizer. */
export function encodeCut(spec: EncoderSpec, unitBytes: number, maxHeldBytes = DEFAULT_ENCODE_MAX_PRETOKEN_BYTES) {
  return cutUnits({
    findCut: safeCutFinder(new SpecialMatcher(spec.specials.map((s) => s.text)), joinableJunctions(spec)),
    unitBytes,
    maxHeldBytes,
    purpose: 'encode it exactly',
  });
}

/** Encodes `files` (each on its own) and calls `onIds` with every unit's ids in order; returns the per-stage report. */
export async function encodeFiles(
  files: readonly InputFile[], spec: EncoderSpec, o: EncodeFilesOptions, onIds: (u: Ids) => void | Promise<void>,
): Promise<Record<string, StageReport>> {
  const unitBytes = o.unitBytes ?? unitBytesFor(totalSize(files), o.workers);
  const encode = encodeUnits({ spec, workers: o.workers, engine: o.engine });
  const sink: Sink<Ids, void> = {
    name: 'ids',
    description: 'hand the ids to the caller',
    async consume(source) { for await (const u of source) await onIds(u); },
  };
  try {
    const { stages } = await runChain(chain(readFiles({ files, chunkBytes: o.readBytes ?? unitBytes }), encodeCut(spec, unitBytes, o.maxHeldBytes), encode, sink), {
      signal: o.signal ?? new AbortController().signal, log: () => {}, warn: () => {},
    });
    return stages;
  } finally {
    await encode.close();
  }
}
