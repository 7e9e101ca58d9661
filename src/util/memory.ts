/**
 * Memory of this process and of the machine. peakRssMb reads VmHWM from
 * /proc/self/status on Linux: getrusage's maxRSS is inherited across fork,
 * so a pipeline spawned by a large process would report its parent's size.
 * machineMemory reads what this process may still use: free RAM
 * (MemAvailable, which counts reclaimable page cache) and, inside a
 * container, the cgroup limit less its usage (v2 memory.max, v1
 * memory.limit_in_bytes), whichever is smaller.
 */
import { readFileSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';

export function peakRssMb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}

/** What the machine can hold for this process, in bytes. */
export interface MachineMemory {
  /** Physical RAM. */
  total: number;
  /** The cgroup's limit, or null when there is none (or it exceeds RAM). */
  cgroupLimit: number | null;
  /** What can still be allocated now: free RAM, or the cgroup's headroom when smaller. */
  available: number;
  /** Where `available` comes from, for messages ("free RAM" or "cgroup limit"). */
  source: string;
}

function readNumber(path: string): number | null {
  try {
    const text = readFileSync(path, 'utf8').trim();
    if (text === 'max') return null;
    const n = Number(text);
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

/** inactive_file of a cgroup memory.stat (page cache the kernel reclaims before failing), 0 when unknown. */
function inactiveFile(path: string, key: string): number {
  try {
    const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(readFileSync(path, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Limit and usage of this process's memory cgroup (v2, then v1), or null outside one. */
function cgroupMemory(): { limit: number; usage: number } | null {
  const v2 = readNumber('/sys/fs/cgroup/memory.max');
  if (v2 !== null) {
    const usage = (readNumber('/sys/fs/cgroup/memory.current') ?? 0) - inactiveFile('/sys/fs/cgroup/memory.stat', 'inactive_file');
    return { limit: v2, usage: Math.max(0, usage) };
  }
  const v1 = readNumber('/sys/fs/cgroup/memory/memory.limit_in_bytes');
  if (v1 !== null) {
    const usage = (readNumber('/sys/fs/cgroup/memory/memory.usage_in_bytes') ?? 0) - inactiveFile('/sys/fs/cgroup/memory/memory.stat', 'total_inactive_file');
    return { limit: v1, usage: Math.max(0, usage) };
  }
  return null;
}

/**
 * The machine's memory as this process sees it. `LMPIPE_MEMORY_MB` sets
 * what this process may use in all (to leave memory to other work, or to
 * override a wrong reading); what it already holds is not available.
 */
export function machineMemory(): MachineMemory {
  const total = totalmem();
  const env = process.env.LMPIPE_MEMORY_MB;
  if (env !== undefined && env !== '' && Number.isFinite(Number(env)) && Number(env) > 0) {
    return { total, cgroupLimit: null, available: Math.max(0, Number(env) * 2 ** 20 - process.memoryUsage().rss), source: 'LMPIPE_MEMORY_MB' };
  }
  const cg = cgroupMemory();
  const cgroupLimit = cg !== null && cg.limit < total ? cg.limit : null;
  const free = freemem();
  if (cg !== null && cgroupLimit !== null && cg.limit - cg.usage < free) {
    return { total, cgroupLimit, available: Math.max(0, cg.limit - cg.usage), source: 'cgroup limit' };
  }
  return { total, cgroupLimit, available: free, source: 'free RAM' };
}

/**
 * Makes glibc keep freed memory mapped for reuse (a fixed 32 MiB mmap
 * threshold, no trimming; the native addon's `keepFreedMemory`), when the
 * addon is built; false otherwise. The streaming pipelines allocate one
 * buffer per work unit (a unit's bytes travel from the reader to a worker
 * and back as its ids, never recycled across stages): without this, glibc
 * returns each freed megabyte to the kernel and the next unit page-faults it
 * back in (measured on encode: ~20% more page faults and 8-10% lower
 * throughput). The training backend sets the same policy.
 */
export async function reuseFreedMemory(): Promise<boolean> {
  const { tryLoadNative } = await import('../backends/native/addon.ts');
  return tryLoadNative()?.keepFreedMemory() ?? false;
}
