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
import { copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { commitTemp, discardTemp, ensureDir, tempPathFor } from '../util/atomic.ts';

let serial = 0;

/**
 * `writeDirAtomic` semantics (fill a temporary sibling, then swap it in;
 * the old directory is removed only after the new one is in place), with
 * temporary names unique per call: atomic.ts names temporaries by pid and
 * millisecond, and two saves within one millisecond (a tiny model) would
 * collide.
 */
export async function replaceDirAtomic(target: string, fill: (tmpDir: string) => void | Promise<void>): Promise<void> {
  ensureDir(dirname(target));
  const tmp = tempPathFor(`${target}-${++serial}`);
  try {
    mkdirSync(tmp);
    await fill(tmp);
    if (existsSync(target)) {
      // Not registered for exit cleanup: if we die between the two renames, the old copy must survive.
      const old = join(dirname(target), `.${basename(target)}.old-${process.pid}-${++serial}`);
      renameSync(target, old);
      commitTemp(tmp, target);
      rmSync(old, { recursive: true, force: true });
    } else {
      commitTemp(tmp, target);
    }
  } catch (e) {
    discardTemp(tmp);
    throw e;
  }
}

/** Hard-links (or copies, where linking fails) `src` into `dst`, recursively. */
function linkTree(src: string, dst: string): void {
  const st = lstatSync(src);
  if (st.isDirectory()) {
    mkdirSync(dst);
    for (const name of readdirSync(src)) linkTree(join(src, name), join(dst, name));
    return;
  }
  try {
    linkSync(src, dst);
  } catch {
    copyFileSync(src, dst);
  }
}

/**
 * Replaces `dir` atomically with the files `write(tmp)` creates, keeping
 * every entry of the current `dir` that `write` did not produce.
 */
export async function replaceRunDir(dir: string, write: (tmp: string) => Promise<void>): Promise<void> {
  await replaceDirAtomic(dir, async (tmp) => {
    await write(tmp);
    if (!existsSync(dir)) return;
    const written = new Set(readdirSync(tmp));
    for (const name of readdirSync(dir)) {
      if (written.has(name) || name.startsWith('.')) continue; // dot entries: other saves' temporaries
      linkTree(join(dir, name), join(tmp, name));
    }
  });
}
