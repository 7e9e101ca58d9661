/**
 * The completion marker of a split-corpus shard's part
 * (`DIR/part-i-of-n.json`, beside `DIR/train/part-i-of-n.txt` and
 * `DIR/valid/part-i-of-n.txt`): written last, temp + rename, so a part whose
 * marker matches its input ranges and options, and whose two files still
 * have the recorded sizes, is complete and a rerun skips it. The layout is in
 * docs/ARCHITECTURE.md ("Split parts").
 */
import { readFileSync, statSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic.ts';
import type { SplitSide } from './route-documents.ts';

const SPLIT_PART_FORMAT = 'lmpipe-split-part';

/** What a part's marker must match: its input ranges and the options that decide its contents. */
export interface SplitPartSpec {
  shard: { index: number; count: number; inputs: Array<{ file: string; start: number; end: number }> };
  options: Record<string, unknown>;
}

/** The two sides of a complete part for exactly `spec`, or null when the part must be (re)made. */
export function completedSplitPart(marker: string, spec: SplitPartSpec, targets: { train: string; valid: string }): { train: SplitSide; valid: SplitSide } | null {
  try {
    const m = JSON.parse(readFileSync(marker, 'utf8')) as SplitPartSpec & { format: string; train: SplitSide; valid: SplitSide };
    if (m.format !== SPLIT_PART_FORMAT || JSON.stringify([m.shard, m.options]) !== JSON.stringify([spec.shard, spec.options])) return null;
    if (statSync(targets.train).size !== m.train.bytes || statSync(targets.valid).size !== m.valid.bytes) return null;
    return { train: m.train, valid: m.valid };
  } catch {
    return null;
  }
}

/** Writes the marker of a finished part (after both of its files are renamed into place). */
export function writeSplitPartMarker(marker: string, spec: SplitPartSpec, sides: { train: SplitSide; valid: SplitSide }): void {
  writeFileAtomic(marker, `${JSON.stringify({ format: SPLIT_PART_FORMAT, ...spec, train: sides.train, valid: sides.valid })}\n`);
}
