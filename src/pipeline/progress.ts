/**
 * Progress reporting for long work, always on stderr so stdout stays free for
 * the JSON summary or piped data: cli-progress bars on a TTY, a plain line
 * every few seconds otherwise (logs, CI), nothing with --quiet.
 */
import cliProgress from 'cli-progress';

/** What a quantity counts; decides how values and rates are printed. */
export type ProgressUnit = 'bytes' | 'tokens' | 'steps' | 'items';

/** One tracked task (a stage with a known or unknown total). */
export interface ProgressTask {
  /** Sets the absolute amount done; `info` is a short free-form suffix (e.g. "loss 3.21"). */
  update(done: number, info?: string): void;
  /** Adds to the amount done. */
  increment(delta: number, info?: string): void;
  /** Changes the total once it becomes known. */
  setTotal(total: number): void;
  /** Marks the task finished (prints a final line in plain mode). */
  stop(): void;
}

export type ProgressMode = 'tty' | 'plain' | 'off';

/** Human-readable quantity: 12.3 MB, 4.56 M tokens. */
export function formatQuantity(n: number, unit: ProgressUnit): string {
  if (unit === 'bytes') {
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    let i = 0;
    let v = n;
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
  }
  const word = unit === 'items' ? '' : ` ${unit}`;
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G${word}`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M${word}`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)} k${word}`;
  if (n > 0 && n < 10 && !Number.isInteger(n)) return `${n.toFixed(2)}${word}`;
  return `${Math.round(n)}${word}`;
}

/** Seconds as 1h02m, 3m05s or 12s. */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${s.toFixed(s < 10 ? 1 : 0)}s`;
}

/** Creates tasks in the chosen mode. */
export class ProgressReporter {
  readonly mode: ProgressMode;
  readonly #prefix: string;
  readonly #intervalMs: number;
  #multi: cliProgress.MultiBar | null = null;

  constructor(prefix: string, mode: ProgressMode, intervalMs = Number(process.env.LMPIPE_PROGRESS_INTERVAL_MS ?? 5000)) {
    this.#prefix = prefix;
    this.mode = mode;
    this.#intervalMs = intervalMs;
  }

  /** Picks 'tty' when stderr is a terminal, else 'plain' (or 'off' when quiet). */
  static auto(prefix: string, quiet: boolean): ProgressReporter {
    const mode: ProgressMode = quiet ? 'off' : process.stderr.isTTY ? 'tty' : 'plain';
    return new ProgressReporter(prefix, mode);
  }

  /** Prints a plain informational line to stderr (kept clear of live bars). */
  log(message: string): void {
    if (this.mode === 'off') return;
    if (this.#multi) this.#multi.log(`${message}\n`);
    else process.stderr.write(`[${this.#prefix}] ${message}\n`);
  }

  /** Starts a task; `total` 0 or undefined means unknown. */
  task(label: string, unit: ProgressUnit, total?: number): ProgressTask {
    const start = performance.now();
    let done = 0;
    let tot = total ?? 0;
    let info = '';
    let lastPrint = start;
    const line = (): string => {
      const el = (performance.now() - start) / 1000;
      const rate = el > 0 ? done / el : 0;
      const pct = tot > 0 ? ` ${((100 * done) / tot).toFixed(1)}%` : '';
      const of = tot > 0 ? ` / ${formatQuantity(tot, unit)}` : '';
      const eta = tot > 0 && rate > 0 ? ` ETA ${formatDuration((tot - done) / rate)}` : '';
      const r = `${formatQuantity(rate, unit)}/s`;
      return `${label}${pct} ${formatQuantity(done, unit)}${of} | ${r}${eta} | ${formatDuration(el)}${info ? ` | ${info}` : ''}`;
    };
    if (this.mode === 'off') {
      return { update() {}, increment() {}, setTotal() {}, stop() {} };
    }
    if (this.mode === 'plain') {
      const maybePrint = (force: boolean): void => {
        const now = performance.now();
        if (force || now - lastPrint >= this.#intervalMs) {
          lastPrint = now;
          process.stderr.write(`[${this.#prefix}] ${line()}\n`);
        }
      };
      return {
        update(d, i) { done = d; if (i !== undefined) info = i; maybePrint(false); },
        increment(d, i) { done += d; if (i !== undefined) info = i; maybePrint(false); },
        setTotal(t) { tot = t; },
        stop() { maybePrint(true); },
      };
    }
    if (!this.#multi) {
      this.#multi = new cliProgress.MultiBar({
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        barsize: 24,
        fps: 8,
        format: (_options, _params, payload: { text?: string }) => payload.text ?? '',
      });
    }
    const width = 24;
    const text = (): string => {
      if (tot <= 0) return line();
      const filled = Math.max(0, Math.min(width, Math.round((width * done) / tot)));
      return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${line()}`;
    };
    const bar = this.#multi.create(1, 0, { text: text() });
    const refresh = (): void => { bar.update(0, { text: text() }); };
    return {
      update(d, i) { done = d; if (i !== undefined) info = i; refresh(); },
      increment(d, i) { done += d; if (i !== undefined) info = i; refresh(); },
      setTotal(t) { tot = t; refresh(); },
      stop() { refresh(); bar.stop(); },
    };
  }

  /** Stops all bars (call once at the end). */
  close(): void {
    if (this.#multi) {
      this.#multi.stop();
      this.#multi = null;
    }
  }
}
