/**
 * The read stage: resolves `--input` patterns with fast-glob (several patterns
 * allowed, `-` for stdin) and streams the files' bytes in bounded chunks.
 */
import { constants, accessSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import fg from 'fast-glob';
import { UserError } from '../pipeline/errors.ts';
import { CHUNK_HEADROOM, type ByteChunk } from './formats/chunks.ts';
import { checkFormats, formatOf, isPlainText, readFormatted, type ReaderOptions } from './formats/index.ts';
import { checkTextStart, readStdin, readTextFile } from './formats/text.ts';

export { CHUNK_HEADROOM };
export type { ReaderOptions };

/** One input: a file, or stdin (`path === '-'`, size unknown), or a byte range of a file. */
export interface InputFile {
  path: string;
  /** Bytes to read (the file's size, or the range's length), or -1 for stdin. */
  size: number;
  /** First byte to read (default 0). */
  start?: number;
  /** End of the range, exclusive (default: the end of the file). */
  end?: number;
}

export type { ByteChunk } from './formats/chunks.ts';

/**
 * Expands the patterns in order (matches of one pattern sorted by path,
 * duplicates dropped). A pattern that matches nothing, or a file that cannot
 * be read, is a UserError naming it (and `flag`, the option it came from).
 * A directory is refused rather than read whole: which of its files are
 * text (hidden files, subdirectories, logs, binaries) is the user's call,
 * and a glob says it.
 */
export async function resolveInputs(patterns: readonly string[], cwd = process.cwd(), flag = '--input'): Promise<InputFile[]> {
  if (patterns.length === 0) throw new UserError(`no ${flag} given: pass a file, a glob such as 'corpus/*.txt', or - for stdin`);
  const seen = new Set<string>();
  const out: InputFile[] = [];
  for (const pattern of patterns) {
    if (pattern === '-') {
      if (seen.has('-')) continue;
      seen.add('-');
      out.push({ path: '-', size: -1 });
      continue;
    }
    const literal = !fg.isDynamicPattern(pattern);
    const matches = literal
      ? [pattern]
      : (await fg(pattern, { cwd, absolute: false, onlyFiles: true, dot: false, followSymbolicLinks: true })).sort();
    if (matches.length === 0) {
      throw new UserError(`${flag} '${pattern}' matches no file (relative to ${cwd}); check the path or quote the glob so the shell does not expand it`);
    }
    for (const match of matches) {
      const m = cwd === process.cwd() || isAbsolute(match) ? match : resolve(cwd, match);
      if (seen.has(m)) continue;
      seen.add(m);
      let size: number;
      try {
        const st = statSync(m);
        if (st.isDirectory()) throw new UserError(`${flag} '${m}' is a directory; name its files with a quoted glob such as '${m.replace(/\/$/, '')}/*.txt'`);
        size = st.size;
        accessSync(m, constants.R_OK);
      } catch (e) {
        if (e instanceof UserError) throw e;
        const code = (e as NodeJS.ErrnoException).code;
        throw new UserError(`cannot read input file ${m}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
      }
      out.push({ path: m, size });
    }
  }
  return out;
}

/** Total size of the inputs in bytes, or -1 when stdin makes it unknown. */
export function totalSize(files: readonly InputFile[]): number {
  let t = 0;
  for (const f of files) {
    if (f.size < 0) return -1;
    t += f.size;
  }
  return t;
}

/**
 * About how many bytes of text the inputs hold (-1 when one is stdin): a
 * compressed file counts four times its size (English text compresses
 * 3-4x with gzip and zstd). For sizing work, e.g. how many threads pay off.
 */
export function textSizeEstimate(files: readonly InputFile[]): number {
  let t = 0;
  for (const f of files) {
    if (f.size < 0) return -1;
    t += formatOf(f.path).compression === 'none' ? f.size : 4 * f.size;
  }
  return t;
}

/** The byte range `[start, end)` of a file as an input (`end` past the file's end reads to its end). */
export function byteRange(file: InputFile, start: number, end: number): InputFile {
  if (file.path === '-') throw new UserError('a byte range of stdin cannot be read: pass a file');
  const s = Math.max(0, Math.min(start, file.size));
  const e = Math.max(s, Math.min(end, file.size));
  return { path: file.path, size: e - s, start: s, end: e };
}

/**
 * Streams every input's bytes in chunks of about `chunkBytes` (a byte range
 * reads only its range); memory held is one chunk (plus, for compressed and
 * record formats, the decoder's state: src/stages/formats/). The reader of
 * every pipeline. Each chunk owns its ArrayBuffer, with CHUNK_HEADROOM free
 * bytes in front of its data.
 *
 * The format is picked by the file's name and checked against its first
 * bytes (formats/index.ts): plain text is read as it is; `.gz` and `.zst`
 * are decompressed; `.jsonl`/`.json` (plain, `.gz`, `.zst`) and `.parquet`
 * yield their records' `textField` as documents, each followed by
 * `separator`; for those, `offset` is the offset in the decoded stream.
 * Text that looks binary is refused unless `forceText`. A file that
 * vanishes, fails mid-read, is truncated or corrupt, or holds a bad record
 * is a UserError naming it and the position.
 */
export async function* readInputs(files: readonly InputFile[], chunkBytes = 4 << 20, options: ReaderOptions = {}): AsyncGenerator<ByteChunk> {
  checkFormats(files, options);
  const check = options.forceText ? undefined : (what: string, atStart: boolean) => (head: Uint8Array) => checkTextStart(head, what, atStart);
  for (const f of files) {
    if (f.path === '-') {
      yield* readStdin(chunkBytes, check?.('stdin', true));
      continue;
    }
    let handle;
    try {
      handle = await open(f.path, 'r');
    } catch (e) {
      throw new UserError(`cannot open input file ${f.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (was it removed after the run started?)`);
    }
    try {
      if (isPlainText(f.path)) {
        const start = f.start ?? 0;
        yield* readTextFile(handle, f.path, chunkBytes, start, f.end ?? Number.POSITIVE_INFINITY, check?.(`input file ${f.path}`, start === 0), f.end === undefined ? f.size : f.end);
      } else {
        // The size now, not at resolve time (a file may have grown since).
        const { size } = await handle.stat();
        const ranged = f.start !== undefined || f.end !== undefined;
        yield* readFormatted(handle, f.path, size, chunkBytes, options, ranged ? { start: f.start ?? 0, end: f.end ?? size } : undefined);
      }
    } finally {
      await handle.close();
    }
  }
}

/** True when every input is plain text, so the bytes read are the inputs' sizes (for a progress total). */
export function allPlainText(files: readonly InputFile[]): boolean {
  return files.every((f) => isPlainText(f.path));
}
