/**
 * The read stage: resolves `--input` patterns with fast-glob (several patterns
 * allowed, `-` for stdin) and streams the files' bytes in bounded chunks.
 */
import { constants, accessSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import fg from 'fast-glob';
import { UserError } from '../pipeline/errors.ts';

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

/** The byte range `[start, end)` of a file as an input (`end` past the file's end reads to its end). */
export function byteRange(file: InputFile, start: number, end: number): InputFile {
  if (file.path === '-') throw new UserError('a byte range of stdin cannot be read: pass a file');
  const s = Math.max(0, Math.min(start, file.size));
  const e = Math.max(s, Math.min(end, file.size));
  return { path: file.path, size: e - s, start: s, end: e };
}

/**
 * Streams every input's bytes in chunks of about `chunkBytes` (a byte range
 * reads only its range); memory held is one chunk. The reader of every
 * pipeline. Each chunk owns its ArrayBuffer, with CHUNK_HEADROOM free bytes
 * in front of its data. A file that vanishes or fails mid-read is a
 * UserError naming it and the offset.
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
      let offset = f.start ?? 0;
      const end = f.end ?? Number.POSITIVE_INFINITY;
      for (;;) {
        const want = Math.min(chunkBytes, end - offset);
        const buf = chunkBuffer(chunkBytes);
        let n = 0;
        try {
          if (want > 0) ({ bytesRead: n } = await handle.read(buf, 0, want, offset));
        } catch (e) {
          throw new UserError(`read error in ${f.path} at byte ${offset}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        if (n === 0) {
          yield { file: f.path, offset, data: buf.subarray(0, 0), last: true };
          break;
        }
        const data = n === chunkBytes ? buf : buf.subarray(0, n);
        const nextOffset = offset + n;
        // Peek for EOF cheaply: a short read means we are at the end (or the range's).
        const last = n < chunkBytes || nextOffset >= end;
        yield { file: f.path, offset, data, last };
        offset = nextOffset;
        if (last) break;
      }
    } finally {
      await handle.close();
    }
  }
}

/**
 * Bytes kept free in front of every chunk's data, in the same ArrayBuffer:
 * the cut stage puts the tail it carries from the previous chunk there, so
 * the chunk's bytes are never copied (see stages/cut.ts).
 */
export const CHUNK_HEADROOM = 4096;

/**
 * A chunk buffer: `n` bytes (not zero-filled) after CHUNK_HEADROOM free ones,
 * in an ArrayBuffer of its own (never Node's shared pool), so the chunk
 * owns it and a stage may move it to a worker thread.
 */
function chunkBuffer(n: number): Buffer {
  return Buffer.allocUnsafeSlow(CHUNK_HEADROOM + n).subarray(CHUNK_HEADROOM);
}

function concatChunk(parts: readonly Buffer[], n: number): Buffer {
  const out = chunkBuffer(n);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

async function* readStdin(chunkBytes: number): AsyncGenerator<ByteChunk> {
  let offset = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const part of process.stdin as AsyncIterable<Buffer>) {
    pending.push(part);
    pendingBytes += part.length;
    if (pendingBytes >= chunkBytes) {
      const data = concatChunk(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      yield { file: '-', offset, data, last: false };
      offset += data.length;
    }
  }
  yield { file: '-', offset, data: concatChunk(pending, pendingBytes), last: true };
}
