/**
 * What every benchmark prints about the machine it ran on: the CPU model,
 * and how much of the machine this process could get while it ran. On a
 * shared VM the second matters as much as the first: see "Measuring on a
 * shared machine" in bench/README.md.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';

/** The CPU model name (/proc/cpuinfo on Linux, else what Node reports). */
export function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch { /* not Linux */ }
  return cpus()[0]?.model.trim() ?? 'unknown';
}

/**
 * How many cores this process can get right now: the speed-up of two
 * spinning threads over one (about 2.0 on an idle 2-core machine, less when
 * other jobs share it). A 2-way parallel speed-up measured at the same time
 * cannot exceed it.
 */
export async function coresAvailable(): Promise<number> {
  const spin = 'let x = 0; for (let i = 0; i < 2e8; i++) x += i % 7; require("node:worker_threads").parentPort.postMessage(x);';
  const time = async (n: number): Promise<number> => {
    const t = performance.now();
    await Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve, reject) => {
      const w = new Worker(spin, { eval: true });
      w.once('message', () => { void w.terminate(); resolve(); });
      w.once('error', reject);
    })));
    return performance.now() - t;
  };
  const one = await time(1);
  const two = await time(2);
  return (2 * one) / two;
}
