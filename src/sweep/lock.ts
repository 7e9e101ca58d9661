/**
 * One sweep process per sweep directory: OUT/sweep.lock holds the owner's
 * pid. A lock whose process is gone (a killed sweep) is taken over.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../pipeline/errors.ts';
import { ensureDir } from '../util/atomic.ts';

export const LOCK_FILE = 'sweep.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock of sweep directory `out`; returns its release function. */
export function lockSweep(out: string): () => void {
  ensureDir(out);
  const path = join(out, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        process.off('exit', release);
        rmSync(path, { force: true });
      };
      process.on('exit', release);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isInteger(pid) && pid !== process.pid && alive(pid)) {
        throw new UserError(`${out} is in use by another sweep (pid ${pid}); wait for it to finish or stop it (if that process is gone, delete ${path})`);
      }
      rmSync(path, { force: true }); // stale: its process is gone
    }
  }
  throw new UserError(`cannot take the lock ${path}; delete it if no sweep is running`);
}
