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

/**
 * Units per second of a task that started at `start` (e.g. a resumed run's
 * step) and is at `done` after `elapsedS` seconds: only the work of this
 * session counts, never what was done before it.
 */
export function progressRate(done: number, start: number, elapsedS: number): number {
  return elapsedS > 0 ? Math.max(0, done - start) / elapsedS : 0;
}

/** Seconds as 1h02m, 3m05s or 12s. */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${s.toFixed(s < 10 ? 1 : 0)}s`;
}

/** Test seams and tuning of a reporter (all optional). */
export interface ProgressOptions {
  /** Plain mode prints at most one line per task this often (default LMPIPE_PROGRESS_INTERVAL_MS or 5000). */
  intervalMs?: number;
  /** Clock in milliseconds (default performance.now); inject a fake one to test rates. */
  now?: () => number;
  /** Where lines and bars go (default stderr); a fake one (isTTY true for bars) in tests. */
  stream?: ProgressStream;
}

/** The part of a terminal stream the reporter writes to. */
export interface ProgressStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Bars redraw at most this often (ms), from the update itself when the event loop is busy. */
const TTY_FRAME_MS = 125;

/** Creates tasks in the chosen mode. */
export class ProgressReporter {
  readonly mode: ProgressMode;
  readonly #prefix: string;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #stream: ProgressStream;
  #multi: cliProgress.MultiBar | null = null;
  #lastDraw = 0;

  constructor(prefix: string, mode: ProgressMode, options: ProgressOptions = {}) {
    this.#prefix = prefix;
    this.mode = mode;
    this.#intervalMs = options.intervalMs ?? Number(process.env.LMPIPE_PROGRESS_INTERVAL_MS ?? 5000);
    this.#now = options.now ?? (() => performance.now());
    this.#stream = options.stream ?? process.stderr;
  }

  /** Picks 'tty' when stderr is a terminal, else 'plain' (or 'off' when quiet). */
  static auto(prefix: string, quiet: boolean): ProgressReporter {
    const mode: ProgressMode = quiet ? 'off' : process.stderr.isTTY ? 'tty' : 'plain';
    return new ProgressReporter(prefix, mode);
  }

  /** Prints a plain informational line to stderr (kept clear of live bars). */
  log(message: string): void {
    if (this.mode === 'off') return;
    if (this.#multi) {
      this.#multi.log(`${message}\n`);
      this.#drawIfDue();
    } else {
      this.#stream.write(`[${this.#prefix}] ${message}\n`);
    }
  }

  /**
   * Redraws the bars when a frame is due. cli-progress redraws on a timer,
   * which never fires while a loop keeps the event loop busy (eval's forward
   * passes resolve as microtasks): updates then draw themselves.
   */
  #drawIfDue(): void {
    const now = this.#now();
    if (this.#multi && now - this.#lastDraw >= TTY_FRAME_MS) {
      this.#lastDraw = now;
      this.#multi.update();
    }
  }

  /**
   * Starts a task; `total` 0 or undefined means unknown. `start` is the
   * amount already done when the task starts (e.g. the step a resumed run
   * continues from): it counts toward the percentage but not the rate.
   */
  task(label: string, unit: ProgressUnit, total?: number, start = 0): ProgressTask {
    const now = this.#now;
    const begin = now();
    let done = start;
    let tot = total ?? 0;
    let info = '';
    let lastPrint = begin;
    const line = (): string => {
      const el = (now() - begin) / 1000;
      const rate = progressRate(done, start, el);
      const pct = tot > 0 ? ` ${((100 * done) / tot).toFixed(1)}%` : '';
      const of = tot > 0 ? ` / ${formatQuantity(tot, unit)}` : '';
      // Before anything is done there is no rate to show, only what the task is doing
      // (a phase with nothing to count, such as starting workers, shows just that).
      const amount = tot > 0 || done > 0 ? ` ${formatQuantity(done, unit)}${of}` : '';
      const r = done > start ? ` | ${formatQuantity(rate, unit)}/s` : '';
      const eta = tot > 0 && rate > 0 ? ` ETA ${formatDuration((tot - done) / rate)}` : '';
      return `${label}${pct}${amount}${r}${eta} | ${formatDuration(el)}${info ? ` | ${info}` : ''}`;
    };
    if (this.mode === 'off') {
      return { update() {}, increment() {}, setTotal() {}, stop() {} };
    }
    if (this.mode === 'plain') {
      const maybePrint = (force: boolean): void => {
        const t = now();
        if (force || t - lastPrint >= this.#intervalMs) {
          lastPrint = t;
          this.#stream.write(`[${this.#prefix}] ${line()}\n`);
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
        stream: this.#stream as NodeJS.WritableStream,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        barsize: 24,
        fps: 1000 / TTY_FRAME_MS,
        // The line is built at each frame, so the elapsed time moves even between updates.
        format: (_options, _params, payload: { text?: () => string }) => payload.text?.() ?? '',
      });
      this.#multi.on('redraw-post', () => { this.#lastDraw = this.#now(); });
    }
    const width = 24;
    /** The final line once stopped (its elapsed time no longer moves). */
    let frozen: string | null = null;
    const text = (): string => {
      if (frozen !== null) return frozen;
      if (tot <= 0) return line();
      const filled = Math.max(0, Math.min(width, Math.round((width * done) / tot)));
      return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${line()}`;
    };
    const bar = this.#multi.create(1, 0, { text });
    const refresh = (): void => { bar.update(0, { text }); this.#drawIfDue(); };
    return {
      update(d, i) { done = d; if (i !== undefined) info = i; refresh(); },
      increment(d, i) { done += d; if (i !== undefined) info = i; refresh(); },
      setTotal(t) { tot = t; refresh(); },
      stop() { frozen = text(); refresh(); bar.stop(); },
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
