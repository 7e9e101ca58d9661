/**
 * The counting half of BPE training as one call, shared by train-bpe and
 * count-pretokens: the chain read → filter-docs → dedup-docs → cut → count →
 * tally over `files` (with the document stages the flags ask for).
 */
import { chain, runChain, type RunChainOptions, type StageReport } from '../pipeline/stage.ts';
import { threadStartWarning } from '../pipeline/worker-pool.ts';
import { countPretokens, tallyCounts, type StreamCounts } from '../stages/count-pretokens.ts';
import { documentSection, type DocumentFlags } from '../stages/document-stages.ts';
import { readerOptions } from '../stages/formats/index.ts';
import { totalSize, type InputFile } from '../stages/read-inputs.ts';
import { reuseFreedMemory } from '../util/memory.ts';
import { bpeCut, countingWorkers } from './bpe-train.ts';
import type { TokenizerEngine } from './tokenizer-engine.ts';

export interface CountCorpusOptions extends DocumentFlags {
  specialTokens: readonly string[];
  /** Counting threads, or 'auto' (by input size). */
  workers: number | 'auto';
  /** Unit size in bytes. */
  chunkBytes: number;
  /** Longest pretoken counted whole (--max-pretoken-mb). */
  maxHeldBytes: number;
  /** Document separator for the document stages (default: the first special token). */
  separator?: string;
  /** The tokenizer core (default 'auto'). */
  engine?: TokenizerEngine;
  /** The reader's format flags (--text-field, --skip-bad-records, --force-text). */
  textField?: string;
  skipBadRecords?: boolean;
  forceText?: boolean;
}

export interface CountedCorpus {
  counted: StreamCounts;
  stages: Record<string, StageReport>;
  workers: number;
  unitsOnMainThread: number;
  /** The core that counted (null: the counts were loaded, not counted). */
  engine: 'native' | 'ts' | null;
  started: { t: number; cpu: NodeJS.CpuUsage };
}

/** Counts the pretokens of `files`. */
export async function countCorpus(files: readonly InputFile[], o: CountCorpusOptions, run: RunChainOptions): Promise<CountedCorpus> {
  await reuseFreedMemory();
  const workers = countingWorkers(o.workers, totalSize(files), o.chunkBytes);
  const separator = o.separator ?? o.specialTokens[0];
  const docs = documentSection(files, Math.min(o.chunkBytes, 4 << 20), o, separator, readerOptions(o, separator));
  const started = { t: performance.now(), cpu: process.cpuUsage() };
  const count = countPretokens({ specialTokens: o.specialTokens, workers, engine: o.engine });
  try {
    const { result, stages } = await runChain(chain(docs.source, docs.filter, docs.dedup, bpeCut(o.specialTokens, o.chunkBytes, o.maxHeldBytes), count, tallyCounts()), run);
    if (count.fallbackReason) run.log(`tokenizer core: TypeScript (the native core is not available: ${count.fallbackReason})`);
    if (count.threadStartError) run.warn(threadStartWarning(count.threadStartError));
    return { counted: result, stages, workers, unitsOnMainThread: count.unitsOnMainThread, engine: count.engine, started };
  } finally {
    await count.close();
  }
}
