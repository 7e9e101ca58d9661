/**
 * Runs `pipelines/train.ts` (or another pipeline) as a child process: each
 * run gets its own TensorFlow.js state and a crash ends that run, not the
 * sweep. While it trains, its metrics.jsonl is polled; when the losses
 * show divergence the child gets SIGTERM, on which the trainer stops after
 * the current step with a checkpoint. A child that has not exited after a
 * grace period (a hung step) gets SIGKILL; the run then keeps its previous
 * checkpoint, which is all a resume needs. Its stderr is appended to a log
 * file.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMetrics } from '../train/metrics.ts';
import type { MetricsRecord } from '../train/metrics.ts';
import { ensureDir } from '../util/atomic.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Children still running; killed if this process exits first (e.g. a second Ctrl-C), so no trainer is orphaned. */
const live = new Set<ChildProcess>();
let exitHooked = false;
function track(child: ChildProcess): void {
  live.add(child);
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

/**
 * The node command line that runs pipeline `name`: plain `node` where it
 * strips TypeScript types itself (Node >= 22.18), else through tsx.
 */
export function pipelineCommand(name: string): { cmd: string; args: string[] } {
  const script = join(REPO_ROOT, 'pipelines', `${name}.ts`);
  const features = process.features as { typescript?: string | false };
  const strips = typeof features.typescript === 'string' && features.typescript !== '';
  return { cmd: process.execPath, args: strips ? [script] : ['--import', 'tsx', script] };
}

export interface ChildOptions {
  /** stderr is appended here (with a header line). */
  logPath: string;
  env?: NodeJS.ProcessEnv;
  /** Aborting sends SIGTERM (the trainer checkpoints and exits). */
  signal?: AbortSignal;
  /** Watched while the child runs; returning a reason stops it with SIGTERM. */
  watch?: { metricsPath: string; check(records: MetricsRecord[]): string | null; intervalMs?: number };
  /** Seconds between SIGTERM and SIGKILL (default 10). */
  killAfterS?: number;
}

export interface ChildOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last JSON line of stdout (the pipeline summary), or null. */
  summary: Record<string, unknown> | null;
  /** The pipeline's one-line error (`NAME: error: ...`) or the last stderr line, on failure. */
  error: string | null;
  /** Set when `watch.check` stopped the child. */
  stoppedBecause: string | null;
}

function lastJsonLine(text: string): Record<string, unknown> | null {
  const lines = text.trim().split('\n').reverse();
  for (const line of lines) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const v = JSON.parse(t) as unknown;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // not the summary
    }
  }
  return null;
}

/** The pipeline's error line from its stderr tail, else the last non-empty line. */
export function errorLine(stderrTail: string): string | null {
  const lines = stderrTail.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const err = [...lines].reverse().find((l) => /^[a-z0-9-]+: (error|internal error):/.test(l));
  return err ?? lines[lines.length - 1] ?? null;
}

/** Runs pipeline `name` with `args`; resolves when it exits (never rejects for a failing child). */
export function runPipelineChild(name: string, args: readonly string[], options: ChildOptions): Promise<ChildOutcome> {
  const { cmd, args: pre } = pipelineCommand(name);
  ensureDir(dirname(options.logPath));
  const log = openSync(options.logPath, 'a');
  writeSync(log, `\n=== ${new Date().toISOString()} ${name} ${args.join(' ')}\n`);
  const child = spawn(cmd, [...pre, ...args], { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let stdout = '';
  let stderrTail = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    writeSync(log, d);
    stderrTail = (stderrTail + d).slice(-8192);
  });

  let stoppedBecause: string | null = null;
  let killTimer: NodeJS.Timeout | null = null;
  const stop = (): void => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    killTimer ??= setTimeout(() => child.kill('SIGKILL'), (options.killAfterS ?? 10) * 1000);
  };
  const onAbort = (): void => stop();
  options.signal?.addEventListener('abort', onAbort);
  if (options.signal?.aborted) stop();

  let poll: NodeJS.Timeout | null = null;
  const watch = options.watch;
  if (watch) {
    poll = setInterval(() => {
      if (stoppedBecause !== null || !existsSync(watch.metricsPath)) return;
      let records: MetricsRecord[];
      try {
        records = parseMetrics(readFileSync(watch.metricsPath, 'utf8'), watch.metricsPath);
      } catch {
        return; // mid-rewrite on resume: next poll
      }
      const reason = watch.check(records);
      if (reason !== null) {
        stoppedBecause = reason;
        stop();
      }
    }, watch.intervalMs ?? 500);
  }

  return new Promise((resolve) => {
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void => {
      if (settled) return;
      settled = true;
      live.delete(child);
      if (poll) clearInterval(poll);
      if (killTimer) clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      if (spawnError) writeSync(log, `spawn failed: ${spawnError.message}\n`);
      closeSync(log);
      const failed = code !== 0;
      resolve({
        code,
        signal,
        summary: lastJsonLine(stdout),
        error: spawnError ? spawnError.message : failed ? errorLine(stderrTail) : null,
        stoppedBecause,
      });
    };
    child.on('error', (e) => finish(null, null, e));
    child.on('close', (code, signal) => finish(code, signal));
  });
}
