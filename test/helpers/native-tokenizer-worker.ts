/**
 * Worker side of the worker-thread test in native-tokenizer.test.ts: builds
 * a native encoder from the spec it is given (handles are per thread) and
 * returns the ids of the text and the counts of a unit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { EncoderSpec } from '../../src/tokenizer/bpe-encode.ts';
import { NativeEncoder, countUnit, nativeTokenizerAvailable } from '../../src/tokenizer/native-tokenizer.ts';

const { spec, text } = workerData as { spec: EncoderSpec; text: string };
const available = nativeTokenizerAvailable();
const enc = new NativeEncoder(spec);
const ids = Array.from(enc.encodeUnit(Buffer.from(text)));
enc.release();
const counted = countUnit(Buffer.from(text), Buffer.byteLength(text), spec.specials.map((s) => s.text));
parentPort?.postMessage({ available, ids, stats: counted.stats, unique: counted.counts.lens.length });
