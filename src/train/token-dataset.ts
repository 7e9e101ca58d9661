/**
 * Token data of many files: `train_data`, `val_data` and `eval --data` name
 * one token file, a directory of them (e.g. the parts `encode --shard`
 * writes), a glob, or a manifest (`*.manifest`: one token-file path per
 * line, relative to the manifest). The files are one sequence in order
 * (`ConcatTokenSource`), so the batch sampler draws windows uniformly over
 * all tokens — each file in proportion to its tokens — and training on a
 * directory of parts draws exactly the batches it would from their
 * concatenation (`merge-tokens`). All files must come from one tokenizer and
 * have one dtype; a sharded job's parts must all be there.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import fg from 'fast-glob';
import { UserError } from '../pipeline/errors.ts';
import { readdirSync } from 'node:fs';
import { TokenFileReader, tokenFileMeta, type TokenSource } from '../tokenizer/token-reader.ts';

/** `part-00003-of-00016.bin` */
const PART = /^part-(\d+)-of-(\d+)\.bin$/;

/** The token files a data spec names, in order (a single path is returned as it is, existing or not). */
export function resolveTokenFiles(spec: string, what: string): string[] {
  let files: string[];
  if (fg.isDynamicPattern(spec)) {
    // Sidecars and document indexes (encode --doc-index) sit beside the token files: not data.
    files = fg.sync(spec, { onlyFiles: true, absolute: false }).filter((f) => !f.endsWith('.json') && !f.endsWith('.index')).sort();
    if (files.length === 0) throw new UserError(`${what} '${spec}' matches no file; check the glob (quote it so the shell does not expand it)`);
  } else if (spec.endsWith('.manifest')) {
    let text: string;
    try { text = readFileSync(spec, 'utf8'); } catch { throw new UserError(`${what} manifest ${spec} not found`); }
    files = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith('#')).map((l) => (isAbsolute(l) ? l : resolve(dirname(spec), l)));
    if (files.length === 0) throw new UserError(`${what} manifest ${spec} lists no token file`);
  } else {
    let dir = false;
    try { dir = statSync(spec).isDirectory(); } catch { /* missing: checked by the caller */ }
    if (!dir) return [spec];
    files = readdirSync(spec).filter((f) => f.endsWith('.bin') && !f.startsWith('.')).sort().map((f) => join(spec, f));
    if (files.length === 0) throw new UserError(`${what} ${spec} is a directory without token files (*.bin); encode into it with --shard, or give a token file`);
  }
  checkParts(files, what);
  return files;
}

/** A set of `part-i-of-n.bin` files must be complete: n parts, each once. */
function checkParts(files: readonly string[], what: string): void {
  const parts = files.map((f) => PART.exec(f.slice(f.lastIndexOf('/') + 1)));
  if (!parts.some((m) => m !== null)) return;
  const counts = new Set(parts.filter((m) => m !== null).map((m) => Number((m as RegExpExecArray)[2])));
  if (counts.size > 1) throw new UserError(`${what}: parts of ${[...counts].join(' and ')}-shard jobs are mixed; give one job's parts`);
  const n = [...counts][0];
  const have = new Set(parts.filter((m) => m !== null).map((m) => Number((m as RegExpExecArray)[1])));
  const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !have.has(i));
  if (missing.length > 0) throw new UserError(`${what}: part(s) ${missing.slice(0, 10).join(', ')} of ${n} are missing (or still running: a part appears with its sidecar when complete); rerun those shards`);
}

/**
 * Checks that the files can be one sequence: each has a sidecar (or none
 * has), and all record one tokenizer and dtype; names the first file that
 * differs.
 */
export function checkSameData(files: readonly string[], what: string): void {
  if (files.length < 2) return;
  const first = tokenFileMeta(files[0]);
  for (const f of files.slice(1)) {
    const m = tokenFileMeta(f);
    if ((m === null) !== (first === null)) throw new UserError(`${what}: ${f} ${m ? 'has' : 'has no'} sidecar but ${files[0]} ${first ? 'has' : 'has none'}; encode all parts with pipelines/encode.ts`);
    if (m && first) {
      if (m.tokenizerHash !== first.tokenizerHash) throw new UserError(`${what}: ${f} was encoded with another tokenizer than ${files[0]} (${m.tokenizerHash.slice(0, 19)}… vs ${first.tokenizerHash.slice(0, 19)}…); encode all parts with one tokenizer`);
      if (m.dtype !== first.dtype) throw new UserError(`${what}: ${f} holds ${m.dtype} ids, ${files[0]} ${first.dtype}; encode all parts with one tokenizer`);
    }
  }
}

/** Token files read as one sequence, in order. */
export class ConcatTokenSource implements TokenSource {
  readonly length: number;
  private readonly readers: TokenFileReader[];
  /** starts[i]: index of file i's first token in the sequence. */
  private readonly starts: number[];

  constructor(files: readonly string[]) {
    this.readers = [];
    this.starts = [];
    let at = 0;
    try {
      for (const f of files) {
        const r = new TokenFileReader(f);
        this.readers.push(r);
        this.starts.push(at);
        at += r.length;
      }
    } catch (e) {
      for (const r of this.readers) r.close();
      throw e;
    }
    this.length = at;
  }

  read(start: number, count: number, out: Int32Array, offset: number): void {
    if (start < 0 || count < 0 || start + count > this.length) throw new RangeError(`token read [${start}, ${start + count}) outside [0, ${this.length})`);
    // The last file starting at or before `start` (binary search).
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= start) lo = mid; else hi = mid - 1;
    }
    let i = lo;
    let pos = start;
    let left = count;
    let o = offset;
    while (left > 0) {
      const r = this.readers[i];
      const from = pos - this.starts[i];
      const n = Math.min(left, r.length - from);
      if (n > 0) r.read(from, n, out, o);
      pos += n;
      o += n;
      left -= n;
      i++;
    }
  }

  close(): void {
    for (const r of this.readers) r.close();
  }
}

/** Opens token data (one file, or many as one sequence). */
export function openTokenData(spec: string, what: string): TokenSource {
  const files = resolveTokenFiles(spec, what);
  if (files.length === 1) return new TokenFileReader(files[0]);
  checkSameData(files, what);
  return new ConcatTokenSource(files);
}
