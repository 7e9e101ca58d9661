/**
 * Output safety, checked once before a pipeline reads anything or starts
 * workers, the same way for every pipeline that writes:
 *
 * - an output must not be an input, nor (a directory output) contain one:
 *   paths are compared resolved (symlinks followed; for an output that does
 *   not exist yet, its parent directory resolved), and files also by
 *   device + inode, so a symlink or a hard link to the input is caught;
 * - an existing output must be a previous output of the same kind (a
 *   tokenizer directory holding exactly what train-bpe writes, a token file
 *   with its sidecar, ...) or empty; anything else is refused unless the
 *   pipeline offers a force flag and it was given. Forcing never lifts the
 *   first rule;
 * - then the hidden temporaries that killed runs left next to the outputs
 *   are removed (temporaries.ts), with one log line.
 *
 * Refusals are UserErrors: one line naming the path and the fix, and
 * nothing is written.
 */
import { lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { UserError } from '../pipeline/errors.ts';
import { cleanStaleTemporaries, isTemporaryName } from './temporaries.ts';

/** An output a pipeline is about to write. */
export interface OutputSpec {
  /** The path as the user gave it ('-', stdout, is not checked). */
  path: string;
  /** The option that named it, for the fix: '--out', '--out-dir'. */
  flag: string;
  /**
   * 'file': replaced by renaming a temporary onto it. 'dir': a directory
   * the pipeline owns (replaces as a whole, or fills), so no input may lie
   * inside it.
   */
  type: 'file' | 'dir';
  /** What is written there, for messages: 'tokenizer directory', 'token file'. */
  what: string;
  /**
   * For an existing, non-empty output: null when it is a previous output
   * of this kind (it may be replaced), else a short reason it is not
   * ("it holds notes.txt"). Omitted: the pipeline checks that itself.
   */
  previous?: (path: string) => string | null;
  /** How messages name it when not `FLAG PATH` (e.g. "--out-dir D: its train.txt"). */
  label?: string;
  /** A suggested place instead, for the "contains an input" refusal (e.g. DIR/tokenizer). */
  suggest?: string;
}

/** An input the pipeline reads ('-', stdin, is skipped). */
export interface InputSpec {
  path: string;
  /** How it was given, for messages: '--input', 'train_data'. */
  what: string;
}

/** Options of guardOutputs. */
export interface GuardOptions {
  /** The force flag was given: an existing output that is not a previous one may be written (inputs stay protected). */
  force?: boolean;
  /** The pipeline's force flag and what it does, for messages, e.g. { flag: '--force', effect: 'its other files are kept' }; omitted: no forcing. */
  forceFlag?: { flag: string; effect: string };
  /** Where to log the removal of stale temporaries (one line). */
  log?: (message: string) => void;
}

/** `path` with symlinks resolved; for a path that does not exist, its nearest existing parent resolved and the rest appended. */
export function realPathOrParent(path: string): string {
  const abs = resolve(path);
  try {
    return realpathSync(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : join(realPathOrParent(parent), basename(abs));
  }
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** Whether directory `dir` (stat'ed) is `path` or one of its parents (by device + inode, so bind mounts count too). */
function isAncestorOrSelf(dir: Stats, path: string): boolean {
  for (let p = path; ; p = dirname(p)) {
    const st = statOrNull(p);
    if (st && sameFile(st, dir)) return true;
    if (dirname(p) === p) return false;
  }
}

/** Entries of a directory other than lmpipe's own hidden temporaries. */
export function visibleEntries(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => !isTemporaryName(n)).sort();
  } catch {
    return [];
  }
}

/** "a, b and 3 more" for messages. */
export function listSome(names: readonly string[], max = 3): string {
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

function checkInput(out: OutputSpec, realOut: string, outStat: Stats | null, input: InputSpec): void {
  const given = resolve(input.path);
  const realIn = realPathOrParent(input.path);
  const inStat = statOrNull(input.path);
  const lexical = join(realPathOrParent(dirname(given)), basename(given)); // the input's own name, its last symlink not followed
  const sameName = realIn === realOut || lexical === realOut;
  const sameInode = outStat !== null && inStat !== null && !outStat.isDirectory() && sameFile(outStat, inStat);
  if (sameName || sameInode || (outStat !== null && inStat !== null && outStat.isDirectory() && sameFile(outStat, inStat))) {
    let how = '';
    if (!sameName) how = ' (a hard link to it)';
    else if (resolve(out.path) !== given) how = ' (the same file through a symlink)';
    throw new UserError(`${out.label ?? `${out.flag} ${out.path}`} is the ${input.what} ${input.path}${how}; writing the ${out.what} there would destroy it: choose another ${out.flag}`);
  }
  if (out.type !== 'dir') return;
  const inside = realIn.startsWith(realOut + sep) || lexical.startsWith(realOut + sep)
    || (outStat !== null && outStat.isDirectory() && isAncestorOrSelf(outStat, realIn));
  if (inside) {
    const instead = out.suggest ? ` (e.g. ${out.suggest})` : '';
    throw new UserError(`${out.flag} ${out.path} contains the ${input.what} ${input.path}; writing the ${out.what} there could delete it: choose another ${out.flag} that does not contain it${instead}`);
  }
}

function checkExisting(out: OutputSpec, outStat: Stats, opts: GuardOptions): void {
  const force = opts.forceFlag && opts.force === true;
  const orForce = opts.forceFlag ? `, or add ${opts.forceFlag.flag} to write it anyway (${opts.forceFlag.effect})` : '';
  if (out.type === 'file') {
    if (outStat.isDirectory()) throw new UserError(`${out.flag} ${out.path} is a directory; give a file name for the ${out.what}`);
    if (outStat.size === 0 || !out.previous || force) return;
  } else {
    if (!outStat.isDirectory()) throw new UserError(`${out.flag} ${out.path} is a file, not a directory; choose another ${out.flag} for the ${out.what}`);
    if (visibleEntries(out.path).length === 0 || !out.previous || force) return;
  }
  const why = out.previous(out.path);
  if (why !== null) {
    throw new UserError(`${out.flag} ${out.path} exists and is not a previous ${out.what} (${why}); choose a new ${out.type === 'dir' ? 'or empty directory' : 'file name'}${orForce}`);
  }
}

/**
 * Checks the outputs against the inputs and what is already there (see
 * the module doc), throwing a one-line UserError on the first problem;
 * then removes stale temporaries next to the outputs. Call it before
 * reading inputs or starting workers.
 */
export function guardOutputs(outputs: readonly OutputSpec[], inputs: readonly InputSpec[], opts: GuardOptions = {}): void {
  const checked = outputs.filter((o) => o.path !== '-');
  for (const out of checked) {
    const realOut = realPathOrParent(out.path);
    let lst: Stats | null = null;
    try { lst = lstatSync(out.path); } catch { lst = null; }
    const outStat = statOrNull(out.path);
    for (const input of inputs) if (input.path !== '-') checkInput(out, realOut, outStat, input);
    if (outStat) checkExisting(out, outStat, opts);
    else if (lst?.isSymbolicLink()) throw new UserError(`${out.flag} ${out.path} is a symlink to a missing path; remove it or choose another ${out.flag}`);
  }
  const dirs: string[] = [];
  for (const out of checked) {
    dirs.push(dirname(resolve(out.path)));
    if (out.type === 'dir') dirs.push(resolve(out.path));
  }
  cleanStaleTemporaries(dirs, opts.log ?? (() => {}));
}
