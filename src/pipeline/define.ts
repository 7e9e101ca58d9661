/**
 * Declarative pipelines. A pipeline file declares its stages and options once;
 * from that declaration come the CLI flags, `--help`, validation with one-line
 * errors, progress reporting on stderr, and the final one-line JSON summary on
 * stdout that shell scripts can chain on.
 *
 *   const p = definePipeline({ name, description, stages, options, run });
 *   await runIfMain(p, import.meta.url);
 */
import { readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { UserError, isUserError } from './errors.ts';
import { ProgressReporter } from './progress.ts';
import { bindNegativeNumbers, exitCodeFor, superviseUnderTsx, watchSupervisor } from './interrupt.ts';
import type { StopSignal } from './interrupt.ts';
import { nearest } from '../util/nearest.ts';
import { peakRssMb } from '../util/memory.ts';

interface BaseOption {
  /** One line for --help. */
  description: string;
  /** Single-letter alias. */
  short?: string;
  /** Name of the value in --help (e.g. DIR, N). */
  placeholder?: string;
  /**
   * The default --help shows for an option the parser leaves unset when it
   * is not given, because a later layer fills it (train: a config file,
   * then the config schema's default, under the flags).
   */
  helpDefault?: string;
}
export interface StringOption extends BaseOption {
  type: 'string';
  multiple?: false;
  required?: boolean;
  default?: string;
  choices?: readonly string[];
}
export interface StringListOption extends BaseOption {
  type: 'string';
  multiple: true;
  required?: boolean;
  default?: readonly string[];
}
export interface NumberOption extends BaseOption {
  type: 'int' | 'number';
  required?: boolean;
  default?: number;
  min?: number;
  max?: number;
}
export interface BooleanOption extends BaseOption {
  type: 'boolean';
  default?: boolean;
  /**
   * Also accept `--no-FLAG` (false). Without a default, the value is then
   * undefined when neither is given, so a flag can turn a config's true off.
   */
  negatable?: boolean;
}
export type OptionSpec = StringOption | StringListOption | NumberOption | BooleanOption;
export type OptionSpecs = Record<string, OptionSpec>;

type ValueOf<S> = S extends BooleanOption ? boolean
  : S extends NumberOption ? number
  : S extends StringListOption ? string[]
  : string;
type IsSet<S> = S extends BooleanOption ? (S extends { negatable: true } ? (S extends { default: boolean } ? true : false) : true)
  : S extends StringListOption ? true
  : S extends { required: true } ? true
  : S extends { default: string | number } ? true
  : false;
/** The parsed values of a set of option specs. */
export type OptionValues<O extends OptionSpecs> = {
  [K in keyof O]: IsSet<O[K]> extends true ? ValueOf<O[K]> : ValueOf<O[K]> | undefined;
};

/** A stage of the pipeline, listed in --help and used as a progress label. */
export interface StageSpec {
  name: string;
  description: string;
}

/** What a running pipeline can use. */
export interface RunContext {
  readonly progress: ProgressReporter;
  /** One informational line on stderr. */
  log(message: string): void;
  /** One warning line on stderr (also collected into the summary's `warnings`). */
  warn(message: string): void;
  /** Call when the pipeline writes data to stdout: the summary then goes to stderr. */
  claimStdout(): void;
  /** Aborted on SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
}

export interface PipelineSpec<O extends OptionSpecs, R extends object> {
  name: string;
  description: string;
  stages: readonly StageSpec[];
  options: O;
  /** The file that runs it, for the usage line (default `pipelines/NAME.ts`). */
  script?: string;
  /** Usage examples for --help. */
  examples?: readonly string[];
  /**
   * A repeatable string option that also takes plain (flag-less) arguments,
   * e.g. `plot RUN RUN --out x.png`. Without it, plain arguments are an error.
   */
  positional?: keyof O & string;
  /**
   * True when `run` watches `ctx.signal` and stops cleanly (e.g. saving a
   * checkpoint) on SIGINT/SIGTERM; the summary is still printed and the exit
   * status is 130/143; a second signal exits at once. Otherwise a signal exits
   * at once, and atomic writes leave the previous output intact. See interrupt.ts.
   */
  gracefulInterrupt?: boolean;
  /** Cross-option validation; throw UserError. */
  validate?(opts: OptionValues<O>): void;
  run(opts: OptionValues<O>, ctx: RunContext): Promise<R>;
}

export interface Pipeline<O extends OptionSpecs, R extends object> {
  readonly spec: PipelineSpec<O, R>;
  /** Parses argv (without node and script) into validated option values. */
  parse(argv: readonly string[]): OptionValues<O> | 'help';
  /** Runs programmatically with already-typed options (no process exit). */
  run(opts: OptionValues<O>, ctx?: Partial<RunContext>): Promise<R>;
  /** Full CLI behaviour: parse, run, print summary, exit code. */
  main(argv?: readonly string[]): Promise<number>;
  /** --help text. */
  help(): string;
}

/** `vocabSize` -> `vocab-size`. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

const COMMON: OptionSpecs = {
  quiet: { type: 'boolean', description: 'no progress output on stderr' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
  version: { type: 'boolean', description: 'print the lmpipe version' },
};

/**
 * How to run a pipeline file on the running Node: plain `node` where it strips
 * TypeScript types by default (Node >= 22.18), else `npx tsx`.
 */
export function launcher(): string {
  const features = process.features as { typescript?: string | false };
  return typeof features.typescript === 'string' && features.typescript !== '' ? 'node' : 'npx tsx';
}

let versionCache: string | null = null;
/** lmpipe's version, from package.json. */
export function packageVersion(): string {
  if (versionCache === null) {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    versionCache = pkg.version ?? 'unknown';
  }
  return versionCache;
}

/** Declares a pipeline. */
export function definePipeline<O extends OptionSpecs, R extends object>(spec: PipelineSpec<O, R>): Pipeline<O, R> {
  const all: OptionSpecs = { ...spec.options, ...COMMON };
  const keyByFlag = new Map(Object.keys(all).map((k) => [flagName(k), k]));
  const negatable = Object.keys(all).filter((k) => { const o = all[k]; return o.type === 'boolean' && o.negatable === true; });
  for (const k of negatable) keyByFlag.set(`no-${flagName(k)}`, k);

  const help = (): string => {
    const pos = spec.positional ? ` [${(all[spec.positional] as StringListOption).placeholder ?? 'ARG'}...]` : '';
    const lines = [`${spec.name}: ${spec.description}`, '', `usage: ${launcher()} ${spec.script ?? `pipelines/${spec.name}.ts`}${pos} [options]`, '', 'stages:'];
    for (const s of spec.stages) lines.push(`  ${s.name.padEnd(18)} ${s.description}`);
    lines.push('', 'options:');
    for (const [k, o] of Object.entries(all)) {
      const ph = o.type === 'boolean' ? '' : ` ${o.placeholder ?? (o.type === 'string' ? 'VALUE' : 'N')}`;
      const left = `${o.short ? `-${o.short}, ` : '    '}--${o.type === 'boolean' && o.negatable ? '[no-]' : ''}${flagName(k)}${ph}`;
      const notes: string[] = [];
      if ('required' in o && o.required) notes.push('required');
      if ('multiple' in o && o.multiple) notes.push('repeatable');
      if ('choices' in o && o.choices) notes.push(`one of: ${o.choices.join(', ')}`);
      if (o.default !== undefined && !(Array.isArray(o.default) && o.default.length === 0)) notes.push(`default: ${Array.isArray(o.default) ? o.default.join(', ') : String(o.default)}`);
      else if (o.helpDefault !== undefined) notes.push(`default: ${o.helpDefault}`);
      if ('min' in o && o.min !== undefined) notes.push(`min ${o.min}`);
      if ('max' in o && o.max !== undefined) notes.push(`max ${o.max}`);
      lines.push(`  ${left.padEnd(30)} ${o.description}${notes.length ? ` (${notes.join('; ')})` : ''}`);
    }
    if (spec.examples?.length) {
      lines.push('', 'examples:');
      for (const e of spec.examples) lines.push(`  ${e}`);
    }
    lines.push('', 'Progress goes to stderr; a one-line JSON summary goes to stdout.');
    return lines.join('\n');
  };

  const parse = (argv: readonly string[]): OptionValues<O> | 'help' => {
    const config: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
    for (const [k, o] of Object.entries(all)) {
      config[flagName(k)] = {
        type: o.type === 'boolean' ? 'boolean' : 'string',
        ...(o.type === 'string' && o.multiple ? { multiple: true } : {}),
        ...(o.short ? { short: o.short } : {}),
      };
    }
    for (const k of negatable) config[`no-${flagName(k)}`] = { type: 'boolean' };
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({ args: bindNegativeNumbers(argv, (f) => { const k = keyByFlag.get(f); return k !== undefined && all[k].type !== 'boolean'; }), options: config, strict: true, allowPositionals: spec.positional !== undefined } as Parameters<typeof parseArgs>[0]);
    } catch (e) {
      throw new UserError(explainParseError((e as Error).message, [...keyByFlag.keys()]));
    }
    const raw = parsed.values as Record<string, string | boolean | string[] | undefined>;
    if (raw.help) return 'help';
    if (spec.positional !== undefined && parsed.positionals.length > 0) {
      const key = flagName(spec.positional);
      raw[key] = [...((raw[key] as string[] | undefined) ?? []), ...parsed.positionals];
    }
    const out: Record<string, unknown> = {};
    for (const [k, o] of Object.entries(spec.options)) {
      const flag = `--${flagName(k)}`;
      const v = raw[flagName(k)];
      if (o.type === 'boolean') {
        const off = o.negatable === true && raw[`no-${flagName(k)}`] === true;
        if (off && v === true) throw new UserError(`${flag} and --no-${flagName(k)} exclude each other; give one`);
        out[k] = off ? false : (v as boolean | undefined) ?? o.default ?? (o.negatable ? undefined : false);
        continue;
      }
      if (o.type === 'string' && o.multiple) {
        const list = (v as string[] | undefined) ?? [...(o.default ?? [])];
        if (o.required && list.length === 0) throw new UserError(`missing required option ${flag} (see --help)`);
        out[k] = list;
        continue;
      }
      if (v === undefined) {
        if (o.default !== undefined) { out[k] = o.default; continue; }
        if (o.required) throw new UserError(`missing required option ${flag} (see --help)`);
        out[k] = undefined;
        continue;
      }
      const s = v as string;
      if (o.type === 'string') {
        if (o.choices && !o.choices.includes(s)) {
          const n = nearest(s, o.choices);
          throw new UserError(`invalid value '${s}' for ${flag}: expected one of ${o.choices.join(', ')}${n ? ` (did you mean '${n}'?)` : ''}`);
        }
        out[k] = s;
        continue;
      }
      const num = Number(s.replace(/_/g, ''));
      if (s.trim() === '' || !Number.isFinite(num)) throw new UserError(`invalid value '${s}' for ${flag}: expected a number`);
      if (o.type === 'int' && !Number.isInteger(num)) throw new UserError(`invalid value '${s}' for ${flag}: expected an integer`);
      if (o.min !== undefined && num < o.min) throw new UserError(`invalid value ${s} for ${flag}: must be at least ${o.min}`);
      if (o.max !== undefined && num > o.max) throw new UserError(`invalid value ${s} for ${flag}: must be at most ${o.max}`);
      out[k] = num;
    }
    out.quiet = raw.quiet ?? false;
    const values = out as OptionValues<O>;
    spec.validate?.(values);
    return values;
  };

  const run = async (opts: OptionValues<O>, partial: Partial<RunContext> = {}): Promise<R> => {
    const controller = new AbortController();
    const quiet = (opts as { quiet?: boolean }).quiet === true;
    const progress = partial.progress ?? ProgressReporter.auto(spec.name, quiet);
    const ctx: RunContext = {
      progress,
      log: partial.log ?? ((m) => progress.log(m)),
      warn: partial.warn ?? ((m) => process.stderr.write(`[${spec.name}] warning: ${m}\n`)),
      claimStdout: partial.claimStdout ?? (() => {}),
      signal: partial.signal ?? controller.signal,
    };
    try {
      return await spec.run(opts, ctx);
    } finally {
      progress.close();
    }
  };

  const main = async (argv: readonly string[] = process.argv.slice(2)): Promise<number> => {
    let summaryToStderr = false;
    const warnings: string[] = [];
    const controller = new AbortController();
    let stopSignal: StopSignal | null = null;
    let firstInterrupt = 0;
    const onSignal = (signal: StopSignal): void => {
      // A terminal's Ctrl-C can arrive twice at once (to the process group, and relayed by a
      // wrapper such as npm or tsx): only a second signal a moment later means "quit now".
      const now = Date.now();
      if (stopSignal !== null && now - firstInterrupt < 1000) return;
      const again = stopSignal !== null;
      if (!again) { stopSignal = signal; firstInterrupt = now; }
      controller.abort();
      if (!spec.gracefulInterrupt || again) {
        process.stderr.write(`\n${spec.name}: interrupted (${signal}); no partial output was left under the final name\n`);
        process.exit(exitCodeFor(stopSignal ?? signal));
      }
      process.stderr.write(`\n${spec.name}: ${signal}: stopping after the current step (send it again to quit now)\n`);
    };
    const onInt = (): void => onSignal('SIGINT');
    const onTerm = (): void => onSignal('SIGTERM');
    // A closed downstream (`| head`) is a normal end for a shell pipeline, not a crash.
    const onPipeError = (e: NodeJS.ErrnoException): void => { if (e.code === 'EPIPE') process.exit(0); };
    process.stdout.on('error', onPipeError);
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    const stopWatch = watchSupervisor(() => {
      process.stderr.write(`\n${spec.name}: the launcher (tsx) exited\n`);
      onSignal('SIGTERM');
    });
    try {
      if (argv.includes('--version')) {
        process.stdout.write(`lmpipe ${packageVersion()} (${spec.name}; node ${process.version})\n`);
        return 0;
      }
      const opts = parse(argv);
      if (opts === 'help') {
        process.stdout.write(`${help()}\n`);
        return 0;
      }
      const progress = ProgressReporter.auto(spec.name, (opts as { quiet?: boolean }).quiet === true);
      const t0 = performance.now();
      const result = await run(opts, {
        progress,
        warn: (m) => { warnings.push(m); progress.log(`warning: ${m}`); if (progress.mode === 'off') process.stderr.write(`[${spec.name}] warning: ${m}\n`); },
        claimStdout: () => { summaryToStderr = true; },
        signal: controller.signal,
      });
      // A graceful stop on a signal still reports what was finished, but exits 130/143.
      const interrupted: StopSignal | null = stopSignal;
      const summary = {
        pipeline: spec.name,
        ok: interrupted === null,
        ...(interrupted !== null ? { interrupted } : {}),
        ...result,
        ...(warnings.length ? { warnings } : {}),
        wall_s: round3((performance.now() - t0) / 1000),
        peak_rss_mb: round3(peakRssMb()),
      };
      (summaryToStderr ? process.stderr : process.stdout).write(`${JSON.stringify(summary)}\n`);
      return interrupted === null ? 0 : exitCodeFor(interrupted);
    } catch (e) {
      if (isUserError(e)) {
        process.stderr.write(`${spec.name}: error: ${e.message}\n`);
        return 2;
      }
      if (stopSignal !== null) {
        process.stderr.write(`${spec.name}: interrupted (${stopSignal}); no partial output was left under the final name\n`);
        return exitCodeFor(stopSignal);
      }
      process.stderr.write(`${spec.name}: internal error: ${(e as Error).stack ?? String(e)}\n`);
      return 1;
    } finally {
      stopWatch();
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
  };

  return { spec, parse, run, main, help };
}

/** Turns node:util parseArgs messages into one line with a suggestion. */
function explainParseError(message: string, flags: string[]): string {
  const unknown = /Unknown option '(-{1,2})([^']+)'/.exec(message);
  if (unknown) {
    const n = nearest(unknown[2], flags);
    return `unknown option ${unknown[1]}${unknown[2]}${n ? ` (did you mean --${n}?)` : ''}; see --help`;
  }
  const pos = /Unexpected argument '([^']+)'/.exec(message);
  if (pos) return `unexpected argument '${pos[1]}': every value needs its flag (see --help)`;
  return `${message.split('\n')[0]} (see --help)`;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Runs the pipeline's CLI when `moduleUrl` is the entry script, then exits. */
export async function runIfMain<O extends OptionSpecs, R extends object>(p: Pipeline<O, R>, moduleUrl: string): Promise<void> {
  const entry = process.argv[1];
  if (!entry) return;
  let same = false;
  try {
    same = realpathSync(resolve(entry)) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    same = false;
  }
  if (!same) return;
  const code = await (superviseUnderTsx(entry, process.argv.slice(2)) ?? p.main());
  process.exitCode = code;
  if (code !== 0) process.exit(code);
}
