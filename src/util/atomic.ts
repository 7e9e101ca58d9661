/**
 * Atomic output: everything is written under a temporary name in the target's
 * own directory and renamed into place only when complete, so an interrupted
 * run never leaves a partial file under the final name and an existing result
 * stays intact until the new one is whole.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../pipeline/errors.ts';

const pending = new Set<string>();
let sequence = 0;
let hooked = false;

/**
 * Removes temporaries left by this process when it exits. Signals are the
 * caller's business (pipelines turn Ctrl-C into process.exit, which lands
 * here); a process killed outright leaves only hidden `.NAME.tmp-*` files,
 * never a partial file under the final name.
 */
function hookCleanup(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const p of pending) {
      try { rmSync(p, { recursive: true, force: true }); } catch { /* best effort */ }
    }
    pending.clear();
  });
}

/** A temporary sibling path for `target`, registered for cleanup on exit. */
export function tempPathFor(target: string): string {
  hookCleanup();
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}-${++sequence}`);
  pending.add(tmp);
  return tmp;
}

/** Creates `dir` (and parents), with a one-line UserError when that is impossible. */
export function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UserError(`cannot create directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (choose a writable --out location)`);
  }
}

/** Moves a finished temporary into place (replacing a previous result). */
export function commitTemp(tmp: string, target: string): void {
  renameSync(tmp, target);
  pending.delete(tmp);
}

/** Abandons a temporary (on error). */
export function discardTemp(tmp: string): void {
  try { rmSync(tmp, { recursive: true, force: true }); } catch { /* best effort */ }
  pending.delete(tmp);
}

/** Writes a whole file atomically (temp + fsync + rename). */
export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  ensureDir(dirname(target));
  const tmp = tempPathFor(target);
  try {
    const fd = openSync(tmp, 'w');
    try {
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    commitTemp(tmp, target);
  } catch (e) {
    discardTemp(tmp);
    throw e;
  }
}

/**
 * Writes a directory atomically: `fill(tmpDir)` writes the files, then the
 * directory replaces `target` (the previous one is removed only after the new
 * one is complete).
 */
export async function writeDirAtomic(target: string, fill: (tmpDir: string) => void | Promise<void>): Promise<void> {
  ensureDir(dirname(target));
  const tmp = tempPathFor(target);
  try {
    mkdirSync(tmp);
    await fill(tmp);
    if (existsSync(target)) {
      const old = tempPathFor(target);
      renameSync(target, old);
      renameSync(tmp, target);
      pending.delete(tmp);
      discardTemp(old);
    } else {
      commitTemp(tmp, target);
    }
  } catch (e) {
    discardTemp(tmp);
    throw e;
  }
}
