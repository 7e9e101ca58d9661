/**
 * JSON Lines (`.jsonl`, `.json`, plain or compressed): one JSON object per
 * line; each record's `textField` (default `text`) is one document. The
 * documents' UTF-8 bytes go out each followed by the separator (the
 * end-of-text special token), as in CS336's text files, so a `.jsonl` of
 * documents reads as the same bytes as the `.txt` that has each document
 * followed by the separator (the last one too). Blank lines are skipped; a
 * line that is not JSON, not an object, or lacks the field (or whose field
 * is not a string) is a UserError naming the file and line, or, with
 * `skipBadRecords`, skipped and counted. Memory is one line (a line over
 * MAX_LINE_BYTES is refused) plus one decoded piece.
 *
 * Where the native addon loads, its extraction core (jsonl-native.ts) turns
 * whole lines into documents many lines per call, several times faster than
 * `toString` + `JSON.parse` + `Buffer.from`; it defers every line it is not
 * sure of (not strict JSON, no string field, odd keys, deep nesting) to the
 * TypeScript line handler here, which stays the reference and keeps the
 * messages, line numbers and skip counting. Its documents are counted as
 * `jsonl_native_documents` (absent: TypeScript read them all). It writes
 * them into output slabs of SLAB_BYTES (a longer document's line gets one
 * of its own, at most three times the line).
 */
import { UserError } from '../../pipeline/errors.ts';
import type { Pieces } from './chunks.ts';
import { JSONL_DONE, JSONL_DEFER, nativeJsonlExtract, type JsonlEngine, type JsonlExtract } from './jsonl-native.ts';

/** The longest line read (a JavaScript string holds at most about 512 M characters). */
export const MAX_LINE_BYTES = 256 << 20;

export interface RecordOptions {
  /** The field (JSON Lines) or column (Parquet) holding each document's text. */
  textField: string;
  /** The bytes that follow each document. */
  separator: Uint8Array;
  /** Skip (and count) bad records instead of stopping. */
  skipBadRecords: boolean;
  /** Told each document and skipped record (`documents`, `skipped_records`; JSON Lines: `jsonl_native_documents`). */
  count?: (key: string, n: number) => void;
  /** Told the first skipped record of each input (one line). */
  warn?: (message: string) => void;
  /** JSON Lines: `ts` reads without the native core (default `auto`: native where the addon loads). */
  engine?: JsonlEngine;
  /**
   * JSON Lines: the file offset the bytes start at (a shard's byte range,
   * which begins at a line start). After the start of the file, line numbers
   * count from there, and messages say so.
   */
  startByte?: number;
}

const NEWLINE = 0x0a;

/** Output buffer the native core writes documents into; a fresh one when full (pieces are never overwritten). */
const SLAB_BYTES = 1 << 20;

/** The native core for these options, or null (TypeScript only). */
function extractorFor(o: RecordOptions): JsonlExtract | null {
  if (o.engine === 'ts') return null;
  // A field with a lone surrogate has no exact UTF-8 form to compare keys with.
  if (Buffer.from(o.textField, 'utf8').toString('utf8') !== o.textField) return null;
  return nativeJsonlExtract();
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function fieldList(o: object): string {
  const keys = Object.keys(o);
  return keys.length === 0 ? 'none' : keys.slice(0, 12).map((k) => JSON.stringify(k)).join(', ') + (keys.length > 12 ? `, … (${keys.length})` : '');
}

/** Streams the documents of JSON Lines bytes (`bytes`: the file's decoded bytes in order). */
export async function* jsonlDocuments(bytes: AsyncIterable<Uint8Array>, path: string, o: RecordOptions): AsyncGenerator<Pieces> {
  const field = o.textField;
  let lineNo = 0;
  let carry: Uint8Array[] = [];
  let carryBytes = 0;
  const startByte = o.startByte ?? 0;
  // The first record's checks (byte order mark, a JSON array) belong to the start of the file only.
  let started = startByte > 0;
  let documents = 0;
  let skipped = 0;
  let out: Uint8Array[] = [];
  const extract = extractorFor(o);
  const fieldBytes = Buffer.from(field, 'utf8');
  const result = new Float64Array(5);
  let slab = Buffer.alloc(0);
  let slabUsed = 0;
  let nativeDocuments = 0;

  /** Where line `n` is: `file:line`, or for a range inside the file, the line counted from the range's first byte. */
  const where = (n: number): string => (startByte > 0 ? `${path} (line ${n} counted from byte ${startByte})` : `${path}:${n}`);

  const bad = (reason: string): void => {
    const at = where(lineNo);
    if (!o.skipBadRecords) throw new UserError(`${at}: ${reason}; fix the line or pass --skip-bad-records to skip such records`);
    if (skipped === 0) o.warn?.(`${at}: ${reason}; skipping such records (--skip-bad-records), counted as skipped_records`);
    skipped++;
  };

  const line = (buf: Buffer, start: number, end: number): void => {
    lineNo++;
    if (!started) {
      // A UTF-8 byte order mark is not JSON.
      if (end - start >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) start += 3;
      let i = start;
      while (i < end && (buf[i] === 0x20 || buf[i] === 0x09 || buf[i] === 0x0d)) i++;
      if (i === end) return;
      started = true;
      if (buf[i] === 0x5b /* [ */) {
        throw new UserError(`${path} is one JSON array, not JSON Lines (one object per line): convert it with jq -c '.[]' ${path} > ${path.replace(/\.json$/i, '')}.jsonl`);
      }
    }
    const s = buf.toString('utf8', start, end);
    let rec: unknown;
    try {
      rec = JSON.parse(s);
    } catch (e) {
      if (s.trim() === '') return;
      const first = documents === 0 && skipped === 0 && lineNo <= 2 ? ' (is this JSON Lines, one JSON object per line?)' : '';
      bad(`not JSON (${(e as Error).message.split('\n')[0]})${first}`);
      return;
    }
    if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) {
      bad(`the record is ${describe(rec)}, not a JSON object`);
      return;
    }
    const text = (rec as Record<string, unknown>)[field];
    if (typeof text !== 'string') {
      if (!Object.hasOwn(rec, field)) bad(`the record has no ${JSON.stringify(field)} field (its fields: ${fieldList(rec)}); pass --text-field NAME to read another one`);
      else bad(`the record's ${JSON.stringify(field)} field is ${describe(text)}, not a string`);
      return;
    }
    documents++;
    out.push(Buffer.from(text, 'utf8'), o.separator);
  };

  /**
   * The native core over whole lines [from, to) (started: past the first
   * record): its documents go out as slices of the slab; a deferred line
   * goes to `line`; a document that does not fit gets a fresh slab (its
   * line's length, then three times that: a byte of invalid UTF-8 becomes
   * three; then `line`, which never happens).
   */
  const nativeLines = (run: JsonlExtract, buf: Buffer, from: number, to: number): void => {
    let at = from;
    let fullAt = -1;
    let fullTries = 0;
    while (at < to) {
      const status = run(buf, at, to, fieldBytes, o.separator, slab, slabUsed, result);
      const outEnd = result[2];
      if (outEnd > slabUsed) {
        out.push(slab.subarray(slabUsed, outEnd));
        slabUsed = outEnd;
      }
      lineNo += result[3];
      documents += result[4];
      nativeDocuments += result[4];
      at = result[0];
      if (status === JSONL_DONE) return;
      const end = result[1];
      if (status === JSONL_DEFER) {
        line(buf, at, end);
        at = end + 1;
        continue;
      }
      // JSONL_FULL
      fullTries = fullAt === at ? fullTries + 1 : 0;
      fullAt = at;
      if (fullTries >= 2) {
        line(buf, at, end);
        at = end + 1;
        continue;
      }
      const len = end - at;
      slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, (fullTries === 0 ? len : 3 * len) + o.separator.length + 64));
      slabUsed = 0;
    }
  };

  /** Whole lines [from, to): each ends at an LF, the last at `to` (an empty last segment is no line). */
  const lines = (buf: Buffer, from: number, to: number): void => {
    let at = from;
    while (at < to && (extract === null || !started)) {
      let e = buf.indexOf(NEWLINE, at);
      if (e < 0 || e >= to) e = to;
      line(buf, at, e);
      at = e + 1;
    }
    if (at < to && extract !== null) nativeLines(extract, buf, at, to);
  };

  const flush = (): Uint8Array[] => {
    if (documents > 0) { o.count?.('documents', documents); documents = 0; }
    if (nativeDocuments > 0) { o.count?.('jsonl_native_documents', nativeDocuments); nativeDocuments = 0; }
    if (skipped > 0) { o.count?.('skipped_records', skipped); skipped = 0; }
    const r = out;
    out = [];
    return r;
  };

  for await (const piece of bytes) {
    const buf = asBuffer(piece);
    let from = 0;
    if (carryBytes > 0) {
      const nl = buf.indexOf(NEWLINE);
      if (nl >= 0) {
        carry.push(buf.subarray(0, nl));
        const whole = Buffer.concat(carry, carryBytes + nl);
        carry = [];
        carryBytes = 0;
        lines(whole, 0, whole.length);
        from = nl + 1;
      }
    }
    if (carryBytes === 0) {
      const last = buf.lastIndexOf(NEWLINE);
      if (last >= from) {
        lines(buf, from, last + 1);
        from = last + 1;
      }
    }
    if (from < buf.length) {
      carry.push(buf.subarray(from));
      carryBytes += buf.length - from;
      if (carryBytes > MAX_LINE_BYTES) {
        throw new UserError(`${where(lineNo + 1)}: a line longer than ${MAX_LINE_BYTES >> 20} MB: is this JSON Lines (one record per line)?`);
      }
    }
    if (out.length > 0 || documents > 0 || skipped > 0) yield flush();
  }
  if (carryBytes > 0) {
    const whole = Buffer.concat(carry, carryBytes);
    lines(whole, 0, whole.length);
  }
  yield flush();
}
