/**
 * The read stage: resolves `--input` patterns with fast-glob (several patterns
 * allowed, `-` for stdin) and streams the files' bytes in bounded chunks.
 */
import { constants, accessSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import fg from 'fast-glob';
import { UserError } from '../pipeline/errors.ts';

/** One input: a file, or stdin (`path === '-'`, size unknown). */
export interface InputFile {
  path: string;
  /** Bytes, or -1 for stdin. */
  size: number;
}

/** A piece of one input's bytes, in order. `last` marks the end of that input. */
export interface ByteChunk {
  file: string;
  /** Byte offset of `data` in its file. */
  offset: number;
  data: Buffer;
  last: boolean;
}

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
 * Streams every input's bytes in chunks of about `chunkBytes`; memory held
 * is one chunk. A file that vanishes or fails mid-read is a UserError naming
 * it and the offset.
 */
export async function* readInputs(files: readonly InputFile[], chunkBytes = 4 << 20): AsyncGenerator<ByteChunk> {
  for (const f of files) {
    if (f.path === '-') {
      yield* readStdin(chunkBytes);
      continue;
    }
    let handle;
    try {
      handle = await open(f.path, 'r');
    } catch (e) {
      throw new UserError(`cannot open input file ${f.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (was it removed after the run started?)`);
    }
    try {
      let offset = 0;
      for (;;) {
        const buf = Buffer.allocUnsafe(chunkBytes);
        let n: number;
        try {
          ({ bytesRead: n } = await handle.read(buf, 0, chunkBytes, offset));
        } catch (e) {
          throw new UserError(`read error in ${f.path} at byte ${offset}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        if (n === 0) {
          yield { file: f.path, offset, data: Buffer.alloc(0), last: true };
          break;
        }
        const data = n === chunkBytes ? buf : buf.subarray(0, n);
        const nextOffset = offset + n;
        // Peek for EOF cheaply: a short read means we are at the end.
        const last = n < chunkBytes;
        yield { file: f.path, offset, data, last };
        offset = nextOffset;
        if (last) break;
      }
    } finally {
      await handle.close();
    }
  }
}

async function* readStdin(chunkBytes: number): AsyncGenerator<ByteChunk> {
  let offset = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const part of process.stdin as AsyncIterable<Buffer>) {
    pending.push(part);
    pendingBytes += part.length;
    if (pendingBytes >= chunkBytes) {
      const data = Buffer.concat(pending);
      pending = [];
      pendingBytes = 0;
      yield { file: '-', offset, data, last: false };
      offset += data.length;
    }
  }
  const data = Buffer.concat(pending);
  yield { file: '-', offset, data, last: true };
}
