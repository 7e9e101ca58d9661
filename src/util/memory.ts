/**
 * Peak resident memory of this process in MB. Reads VmHWM from
 * /proc/self/status on Linux: getrusage's maxRSS is inherited across fork,
 * so a pipeline spawned by a large process would report its parent's size.
 */
import { readFileSync } from 'node:fs';

export function peakRssMb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}
