/**
 * Atomic output: everything is written under a temporary name in the target's
 * own directory and renamed into place only when complete, so an interrupted
 * run never leaves a partial file under the final name and an existing result
 * stays intact until the new one is whole. Temporaries are named as
 * temporaries.ts describes (`.NAME.tmp-PID-…`), so the ones a killed process
 * leaves can be told apart and removed by the next run. A write that runs
 * out of space removes its temporary and fails with a one-line
 * DiskFullError (disk-full.ts).
 */
import { closeSync, copyFileSync, existsSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { UserError } from '../pipeline/errors.ts';
import { DiskFullError, asDiskFull } from './disk-full.ts';
import { bytesUnder, isTemporaryName, ownerTag } from './temporaries.ts';

const pending = new Set<string>();
let sequence = 0;
let hooked = false;

/**
 * Removes temporaries left by this process when it exits. Signals are the
 * caller's business (pipelines turn SIGINT/SIGTERM into process.exit, which
 * lands here, also while a directory is being filled); a process killed
 * outright leaves only hidden `.NAME.tmp-*` entries, never a partial file
 * under the final name, and the next run removes them (temporaries.ts).
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

/** A hidden sibling name of `target` of the given kind (temporaries.ts). */
function hiddenSibling(target: string, kind: 'tmp' | 'old'): string {
  const base = basename(target);
  // Keep the whole name within NAME_MAX; a `.tmp` name need not spell its target fully.
  const shown = kind === 'tmp' && base.length > 120 ? base.slice(0, 120) : base;
  return join(dirname(target), `.${shown}.${kind}-${process.pid}-${Date.now().toString(36)}-${++sequence}-${ownerTag()}`);
}

/** A temporary sibling path for `target`, registered for cleanup on exit. */
export function tempPathFor(target: string): string {
  hookCleanup();
  const tmp = hiddenSibling(target, 'tmp');
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

/**
 * After a failed write whose temporary is already removed: a DiskFullError
 * gets its final message (free space measured now; `target`, default the
 * file it names, said to be intact if it exists). Returns `e` for rethrowing.
 */
export function settleWriteError(e: unknown, target?: string): unknown {
  if (e instanceof DiskFullError) {
    const kept = target ?? e.file;
    e.settle(existsSync(kept) ? kept : null);
  }
  return e;
}

/**
 * Writes all of `data` to `fd`, which holds `file` (named in errors) from
 * byte `at` on. Running out of space throws a DiskFullError; the need is
 * `total` when the final size is known, else "more than" what was asked.
 */
export function writeAllSync(fd: number, data: Uint8Array, file: string, at = 0, total?: number): void {
  let off = 0;
  try {
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
  } catch (e) {
    throw asDiskFull(e, file, total ?? at + data.length, { atLeast: total === undefined, offset: at + off });
  }
}

/** fsync, with a full disk (delayed allocation, NFS) reported as a DiskFullError for `file`. */
export function fsyncOrFail(fd: number, file: string, size: number): void {
  try {
    fsyncSync(fd);
  } catch (e) {
    throw asDiskFull(e, file, size);
  }
}

/**
 * Writes `data` to `path` and fsyncs it, without a temporary: for files
 * inside a temporary directory (writeDirAtomic's `fill`). A full disk
 * removes the partial file and throws a DiskFullError naming `path`.
 */
export function writeFileDurable(path: string, data: string | Uint8Array): void {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd: number | null = null;
  try {
    fd = openSync(path, 'w');
    writeAllSync(fd, buf, path, 0, buf.length);
    fsyncOrFail(fd, path, buf.length);
  } catch (e) {
    if (fd !== null) { try { closeSync(fd); } catch { /* closing a failed file */ } fd = null; }
    const err = asDiskFull(e, path, buf.length);
    if (err instanceof DiskFullError) rmSync(path, { force: true });
    throw err;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/**
 * Writes `data` to a new temporary of `target` and returns its path, for a
 * caller that renames several temporaries into place together. On failure
 * the temporary is removed and a DiskFullError names `target`.
 */
export function prepareTempFile(target: string, data: string | Uint8Array): string {
  const tmp = tempPathFor(target);
  try {
    writeFileDurable(tmp, data);
  } catch (e) {
    discardTemp(tmp);
    if (e instanceof DiskFullError) e.file = target;
    throw settleWriteError(e, target);
  }
  return tmp;
}

/** Writes a whole file atomically (temp + fsync + rename). */
export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  ensureDir(dirname(target));
  const tmp = prepareTempFile(target, data);
  try {
    commitTemp(tmp, target);
  } catch (e) {
    discardTemp(tmp);
    throw settleWriteError(e, target);
  }
}

/**
 * Hard-links (or copies, where linking fails) `src` into `dst`,
 * recursively: no data is copied on one file system, and an appended file
 * (metrics.jsonl) keeps its inode.
 */
export function linkTree(src: string, dst: string): void {
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

/** Options of writeDirAtomic. */
export interface DirWriteOptions {
  /**
   * Keep the entries of the current directory that `fill` did not write
   * (hard-linked into the new one), instead of replacing it as a whole.
   */
  keepOthers?: boolean;
}

/**
 * Writes a directory atomically: `fill(tmpDir)` writes the files (with
 * writeFileDurable, so a full disk names the file), then the directory
 * replaces `target`. The previous one is moved aside under a `.old` name,
 * which is removed only once the new one is in place (a process killed in
 * between leaves it for the next run to restore; temporaries.ts). On any
 * failure the temporary is removed and `target` is left as it was.
 */
export async function writeDirAtomic(target: string, fill: (tmpDir: string) => void | Promise<void>, opts: DirWriteOptions = {}): Promise<void> {
  ensureDir(dirname(target));
  const tmp = tempPathFor(target);
  try {
    mkdirSync(tmp);
    await fill(tmp);
    const exists = existsSync(target);
    if (opts.keepOthers && exists && lstatSync(target).isDirectory()) {
      const written = new Set(readdirSync(tmp));
      for (const name of readdirSync(target)) {
        if (written.has(name) || isTemporaryName(name)) continue; // other saves' temporaries stay out
        linkTree(join(target, name), join(tmp, name));
      }
    }
    if (exists) {
      // Not registered for exit cleanup: between the two renames it is the only copy.
      const old = hiddenSibling(target, 'old');
      renameSync(target, old);
      try {
        renameSync(tmp, target);
      } catch (e) {
        renameSync(old, target);
        throw e;
      }
      pending.delete(tmp);
      try { rmSync(old, { recursive: true, force: true }); } catch { /* left for the next run's stale cleanup */ }
    } else {
      commitTemp(tmp, target);
    }
  } catch (e) {
    let err = e;
    if (err instanceof DiskFullError && (err.file === tmp || err.file.startsWith(tmp + sep))) {
      // The failed file was removed; the complete ones are what the new directory needs besides it.
      err.needBytes += bytesUnder(tmp);
      err.file = join(target, relative(tmp, err.file));
      err.whole = target;
    } else {
      err = asDiskFull(err, target, bytesUnder(tmp), { atLeast: true });
    }
    discardTemp(tmp);
    throw settleWriteError(err, target);
  }
}
