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
 */
import { UserError } from '../../pipeline/errors.ts';
import type { Pieces } from './chunks.ts';

/** The longest line read (a JavaScript string holds at most about 512 M characters). */
export const MAX_LINE_BYTES = 256 << 20;

export interface RecordOptions {
  /** The field (JSON Lines) or column (Parquet) holding each document's text. */
  textField: string;
  /** The bytes that follow each document. */
  separator: Uint8Array;
  /** Skip (and count) bad records instead of stopping. */
  skipBadRecords: boolean;
  /** Told each document and skipped record (`documents`, `skipped_records`). */
  count?: (key: string, n: number) => void;
  /** Told the first skipped record of each input (one line). */
  warn?: (message: string) => void;
}

const NEWLINE = 0x0a;

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
  let started = false;
  let documents = 0;
  let skipped = 0;
  let out: Uint8Array[] = [];

  const bad = (reason: string): void => {
    const at = `${path}:${lineNo}`;
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

  const flush = (): Uint8Array[] => {
    if (documents > 0) { o.count?.('documents', documents); documents = 0; }
    if (skipped > 0) { o.count?.('skipped_records', skipped); skipped = 0; }
    const r = out;
    out = [];
    return r;
  };

  for await (const piece of bytes) {
    const buf = asBuffer(piece);
    let from = 0;
    for (;;) {
      const nl = buf.indexOf(NEWLINE, from);
      if (nl < 0) break;
      if (carryBytes > 0) {
        carry.push(buf.subarray(from, nl));
        const whole = Buffer.concat(carry, carryBytes + nl - from);
        carry = [];
        carryBytes = 0;
        line(whole, 0, whole.length);
      } else {
        line(buf, from, nl);
      }
      from = nl + 1;
    }
    if (from < buf.length) {
      carry.push(buf.subarray(from));
      carryBytes += buf.length - from;
      if (carryBytes > MAX_LINE_BYTES) {
        throw new UserError(`${path}:${lineNo + 1}: a line longer than ${MAX_LINE_BYTES >> 20} MB: is this JSON Lines (one record per line)?`);
      }
    }
    if (out.length > 0 || documents > 0 || skipped > 0) yield flush();
  }
  if (carryBytes > 0) {
    const whole = Buffer.concat(carry, carryBytes);
    line(whole, 0, whole.length);
  }
  yield flush();
}
