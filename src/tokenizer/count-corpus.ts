/**
 * The counting half of BPE training as one call, shared by train-bpe and
 * count-pretokens: the chain read → filter-docs → dedup-docs → cut → count →
 * tally over `files` (with the document stages the flags ask for).
 */
import { chain, runChain, type RunChainOptions, type StageReport } from '../pipeline/stage.ts';
import { countPretokens, tallyCounts, type StreamCounts } from '../stages/count-pretokens.ts';
import { documentSection, type DocumentFlags } from '../stages/document-stages.ts';
import { totalSize, type InputFile } from '../stages/read-inputs.ts';
import { bpeCut, countingWorkers } from './bpe-train.ts';

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
}

export interface CountedCorpus {
  counted: StreamCounts;
  stages: Record<string, StageReport>;
  workers: number;
  unitsOnMainThread: number;
  started: { t: number; cpu: NodeJS.CpuUsage };
}

/** Counts the pretokens of `files`. */
export async function countCorpus(files: readonly InputFile[], o: CountCorpusOptions, run: RunChainOptions): Promise<CountedCorpus> {
  const workers = countingWorkers(o.workers, totalSize(files), o.chunkBytes);
  const docs = documentSection(files, Math.min(o.chunkBytes, 4 << 20), o, o.separator ?? o.specialTokens[0]);
  const started = { t: performance.now(), cpu: process.cpuUsage() };
  const count = countPretokens({ specialTokens: o.specialTokens, workers });
  try {
    const { result, stages } = await runChain(chain(docs.source, docs.filter, docs.dedup, bpeCut(o.specialTokens, o.chunkBytes, o.maxHeldBytes), count, tallyCounts()), run);
    return { counted: result, stages, workers, unitsOnMainThread: count.unitsOnMainThread, started };
  } finally {
    await count.close();
  }
}
