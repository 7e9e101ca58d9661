/**
 * The training log `OUT/metrics.jsonl`: one JSON object per line, one line
 * per optimizer step, with `val_loss` on the steps where validation ran.
 * Appended line by line (a crash loses at most the line being written; a
 * torn last line is ignored by the reader).
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { UserError } from '../pipeline/errors.ts';
import { asDiskFull } from '../util/disk-full.ts';

/** One logged step. */
export interface MetricsRecord {
  step: number;
  /** Training tokens consumed so far (batch_size · context_length · step). */
  tokens: number;
  lr: number;
  loss: number;
  grad_norm: number;
  tokens_per_s: number;
  /** Wall-clock seconds of training so far (accumulated across resumes). */
  elapsed_s: number;
  val_loss?: number;
}

export const METRICS_FILE = 'metrics.jsonl';

/** Appends one record as a JSON line (a full disk is a one-line DiskFullError naming the file). */
export function appendMetrics(path: string, record: MetricsRecord): void {
  const line = `${JSON.stringify(record)}\n`;
  try {
    appendFileSync(path, line);
  } catch (e) {
    throw asDiskFull(e, path, Buffer.byteLength(line), { atLeast: true, note: `training stopped at step ${record.step}; the last checkpoint is intact (--resume once there is space)` });
  }
}

function isRecord(x: unknown): x is MetricsRecord {
  if (x === null || typeof x !== 'object') return false;
  const r = x as Record<string, unknown>;
  return typeof r.step === 'number' && typeof r.loss === 'number' && typeof r.elapsed_s === 'number';
}

/**
 * Parses metrics.jsonl text. A malformed final line (a run killed mid-write)
 * is skipped; a malformed line elsewhere is an error naming the line.
 */
export function parseMetrics(text: string, source = METRICS_FILE): MetricsRecord[] {
  const lines = text.split('\n');
  while (lines.length && lines[lines.length - 1].trim() === '') lines.pop();
  const out: MetricsRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      if (i === lines.length - 1) break; // torn last line
      throw new UserError(`${source}:${i + 1}: not valid JSON; fix or delete that line`);
    }
    if (!isRecord(value)) {
      throw new UserError(`${source}:${i + 1}: a metrics record needs numeric "step", "loss" and "elapsed_s"`);
    }
    out.push(value);
  }
  return out;
}

/** Reads a metrics file (UserError when missing). */
export function readMetrics(path: string): MetricsRecord[] {
  if (!existsSync(path)) throw new UserError(`${path} not found; pass a run directory written by pipelines/train.ts`);
  return parseMetrics(readFileSync(path, 'utf8'), path);
}

/** Keeps the records of steps <= `step` (for resuming: steps after the checkpoint are replayed). */
export function truncateMetrics(records: readonly MetricsRecord[], step: number): MetricsRecord[] {
  return records.filter((r) => r.step <= step);
}
