/**
 * Names of lmpipe's hidden temporaries, and removal of the ones a killed
 * process left behind.
 *
 * Every atomic write goes through a hidden sibling of its target:
 *
 *   .NAME.tmp-PID-TIME-SEQ-OWNER   the new file or directory being written
 *   .NAME.old-PID-TIME-SEQ-OWNER   the previous directory, for the instant
 *                                  between two renames (see writeDirAtomic)
 *
 * PID is the writer's process id, TIME its clock (ms, base 36) and SEQ a
 * per-process counter. OWNER = HOST.BOOT.START identifies the process beyond
 * its pid: a hash of the host name, the kernel boot id and the process start
 * time in clock ticks (/proc/PID/stat), so a pid reused by another process,
 * or a temporary from before a reboot, is recognised as dead. A process
 * that exits normally, or on SIGINT/SIGTERM, removes its own temporaries
 * (atomic.ts); one killed outright (kill -9, OOM killer, a launcher's
 * SIGKILL) leaves them, and the next run that writes next to them removes
 * them (`removeStaleTemporaries`). Temporaries of another host (a shared
 * file system) are never touched: their owner cannot be checked from here.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** What a temporary's name says about it. */
export interface TemporaryName {
  /** Base name of the target it stands for (for `.old`, the directory to restore). */
  target: string;
  kind: 'tmp' | 'old';
  pid: number;
  /** When it was created (ms since the epoch), or null (legacy `.old` names). */
  createdMs: number | null;
  /** HOST.BOOT.START of its process, or null in names written before owners were recorded. */
  owner: { host: string; boot: string; start: string } | null;
}

const NAME = /^\.(.+)\.(tmp|old)-(\d+)-([0-9a-z]+)-(\d+)(?:-([0-9a-f]{6})\.([0-9a-fx]+)\.([0-9a-zx]+))?$/;
/** `.NAME.old-PID-SEQ`, the pre-owner form of run-dir.ts. */
const LEGACY_OLD = /^\.(.+)\.old-(\d+)-(\d+)$/;

/** Parses a temporary's base name; null when it is not one of lmpipe's temporaries. */
export function parseTemporaryName(name: string): TemporaryName | null {
  const m = NAME.exec(name);
  if (m) {
    return {
      target: m[1],
      kind: m[2] as 'tmp' | 'old',
      pid: Number(m[3]),
      createdMs: Number.parseInt(m[4], 36),
      owner: m[6] === undefined ? null : { host: m[6], boot: m[7], start: m[8] },
    };
  }
  const old = LEGACY_OLD.exec(name);
  if (old) return { target: old[1], kind: 'old', pid: Number(old[2]), createdMs: null, owner: null };
  return null;
}

/** True for the base name of one of lmpipe's hidden temporaries. */
export function isTemporaryName(name: string): boolean {
  return parseTemporaryName(name) !== null;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

let hostTag: string | null = null;
/** 6 hex digits of the host name's hash. */
function host(): string {
  hostTag ??= createHash('sha256').update(hostname()).digest('hex').slice(0, 6);
  return hostTag;
}

let bootTag: string | null = null;
/** The first 8 hex digits of the kernel's boot id, or 'x' where there is none (not Linux). */
function boot(): string {
  if (bootTag === null) {
    const id = readText('/proc/sys/kernel/random/boot_id');
    bootTag = id ? id.replace(/[^0-9a-f]/g, '').slice(0, 8) || 'x' : 'x';
  }
  return bootTag;
}

/** Start time of process `pid` in clock ticks since boot (base 36), or null (gone, or no /proc). */
function startTicks(pid: number): string | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; starttime is field 22.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[19]);
  return Number.isInteger(ticks) ? ticks.toString(36) : null;
}

/**
 * The OWNER part of temporary names for process `pid` (default: this one):
 * HOST.BOOT.START. Exported for tests that stand in for another process.
 */
export function ownerTag(pid: number = process.pid): string {
  if (pid === process.pid && selfTag !== null) return selfTag;
  const tag = `${host()}.${boot()}.${startTicks(pid) ?? 'x'}`;
  if (pid === process.pid) selfTag = tag;
  return tag;
}
let selfTag: string | null = null;

/** Whether `pid` names a running process (on this host, in this pid namespace). */
function pidRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Boot time (ms since the epoch) from /proc/stat, or null. */
function bootTimeMs(): number | null {
  const m = /^btime (\d+)$/m.exec(readText('/proc/stat') ?? '');
  return m ? Number(m[1]) * 1000 : null;
}

/**
 * Whether the process that wrote temporary `t` may still be running:
 * 'alive', 'dead', or 'elsewhere' (written on another host: unknowable).
 */
export function temporaryOwner(t: TemporaryName): 'alive' | 'dead' | 'elsewhere' {
  if (t.owner !== null) {
    if (t.owner.host !== host()) return 'elsewhere';
    if (t.owner.boot !== 'x' && boot() !== 'x' && t.owner.boot !== boot()) return 'dead'; // before a reboot
    if (!pidRunning(t.pid)) return 'dead';
    const now = startTicks(t.pid);
    if (t.owner.start !== 'x' && now !== null && now !== t.owner.start) return 'dead'; // the pid was reused
    return 'alive';
  }
  // A name from before owners were recorded: the pid, and whether its process started after the temporary.
  if (!pidRunning(t.pid)) return 'dead';
  const ticks = startTicks(t.pid);
  const btime = bootTimeMs();
  if (t.createdMs !== null && ticks !== null && btime !== null) {
    const startedMs = btime + (Number.parseInt(ticks, 36) * 1000) / 100; // USER_HZ is 100 on Linux
    if (startedMs > t.createdMs + 2000) return 'dead';
  }
  return 'alive';
}

/** Bytes under `path` (files' sizes; links not followed). */
export function bytesUnder(path: string): number {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of readdirSync(path)) total += bytesUnder(join(path, name));
  return total;
}

/** What `removeStaleTemporaries` did in one directory. */
export interface StaleCleanup {
  /** Paths removed. */
  removed: string[];
  /** Their size in bytes. */
  bytes: number;
  /** Previous directories put back under their name (a process killed between two renames). */
  restored: string[];
}

/**
 * Removes the temporaries in `dir` whose process is gone (see the module
 * doc); a `.old` directory whose target is missing is renamed back instead
 * (it is the only copy of the previous output). Temporaries of live
 * processes and of other hosts are kept. Best effort: what cannot be
 * removed is left.
 */
export function removeStaleTemporaries(dir: string): StaleCleanup {
  const result: StaleCleanup = { removed: [], bytes: 0, restored: [] };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return result;
  }
  for (const name of names) {
    const t = parseTemporaryName(name);
    if (t === null || temporaryOwner(t) !== 'dead') continue;
    const path = join(dir, name);
    try {
      if (t.kind === 'old' && !existsSync(join(dir, t.target))) {
        renameSync(path, join(dir, t.target));
        result.restored.push(join(dir, t.target));
        continue;
      }
      const bytes = bytesUnder(path);
      rmSync(path, { recursive: true, force: true });
      result.removed.push(path);
      result.bytes += bytes;
    } catch {
      // Best effort: another run may be cleaning the same directory.
    }
  }
  return result;
}

/** A byte count for people: 512 B, 12.3 kB, 905.3 MB, 1.2 GB. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v.toFixed(1)} ${units[i]}`;
}

/**
 * Removes stale temporaries in each of `dirs` and reports it in one line
 * through `log` (nothing when there was nothing to remove).
 */
export function cleanStaleTemporaries(dirs: Iterable<string>, log: (message: string) => void): StaleCleanup {
  const total: StaleCleanup = { removed: [], bytes: 0, restored: [] };
  for (const dir of new Set(dirs)) {
    const r = removeStaleTemporaries(dir);
    total.removed.push(...r.removed);
    total.bytes += r.bytes;
    total.restored.push(...r.restored);
  }
  if (total.removed.length > 0) {
    const shown = total.removed.slice(0, 3).join(', ') + (total.removed.length > 3 ? `, and ${total.removed.length - 3} more` : '');
    log(`removed ${total.removed.length} stale temporar${total.removed.length === 1 ? 'y' : 'ies'} left by killed runs (${formatBytes(total.bytes)}): ${shown}`);
  }
  if (total.restored.length > 0) {
    log(`restored ${total.restored.join(', ')} from the copy a killed run had moved aside while replacing it`);
  }
  return total;
}
