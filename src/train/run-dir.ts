/**
 * The run directory OUT holds the latest checkpoint at its top level (so
 * `--checkpoint OUT` works for eval and generate) next to files that live
 * across checkpoints (metrics.jsonl, train-config.json, best/).
 *
 * A checkpoint replaces OUT atomically (`replaceDirAtomic`): the new files are
 * written into a temporary sibling directory, every other entry of the
 * current OUT is hard-linked into it (no copy: metrics.jsonl keeps its
 * inode, so appends continue), then the directory is swapped in. An
 * interrupted save leaves the previous checkpoint whole.
 */
import { writeDirAtomic } from '../util/atomic.ts';

/**
 * `writeDirAtomic`: fill a temporary sibling, then swap it in; the old
 * directory is removed only after the new one is in place, and a process
 * killed between the two renames leaves it for the next run to restore.
 */
export async function replaceDirAtomic(target: string, fill: (tmpDir: string) => void | Promise<void>): Promise<void> {
  await writeDirAtomic(target, fill);
}

/**
 * Replaces `dir` atomically with the files `write(tmp)` creates, keeping
 * every entry of the current `dir` that `write` did not produce (hard
 * links, so metrics.jsonl keeps its inode).
 */
export async function replaceRunDir(dir: string, write: (tmp: string) => Promise<void>): Promise<void> {
  await writeDirAtomic(dir, write, { keepOthers: true });
}
