/**
 * The native JSON Lines extraction core (native/src/formats/jsonl.cc, used
 * by src/stages/formats/jsonl.ts) against the TypeScript path it must
 * equal: every line it accepts gives exactly
 * Buffer.from(JSON.parse(line.toString('utf8'))[field], 'utf8'), and the
 * reader gives byte-identical documents, counts, warnings and errors with
 * and without it, with and without --skip-bad-records, over seeded fuzzed
 * lines (nested values, every number form and escape, non-ASCII, surrogate
 * pairs and lone surrogate escapes, raw invalid UTF-8, duplicate, escaped
 * and nested keys, whitespace, CRLF) and mutated ones (truncations, byte
 * flips, trailing commas, control characters), split into pieces at random
 * (the carry path). Skips (with the reason) only when the addon is not
 * built; with CI=true that fails instead.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonlDocuments, type RecordOptions } from '../src/stages/formats/jsonl.ts';
import { JSONL_DEFER, JSONL_DONE, JSONL_FULL, nativeJsonlExtract, type JsonlExtract } from '../src/stages/formats/jsonl-native.ts';
import { Rng } from '../src/util/rng.ts';
import { skipWithoutNative } from './helpers/native-skip.ts';

const skip = skipWithoutNative('test/jsonl-native.test.ts', 'native JSON Lines core', () =>
  nativeJsonlExtract() !== null ? null : 'the native addon is not built (npm run build:native) or lacks jsonlExtract');
const extract = (): JsonlExtract => nativeJsonlExtract()!;

const SEP = Buffer.from('<|endoftext|>');

// ---- the generator ---------------------------------------------------------

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.intBelow(xs.length)];
const hex4 = (rng: Rng, v: number): string => {
  const h = v.toString(16).padStart(4, '0');
  return rng.intBelow(2) === 0 ? h : h.toUpperCase();
};

/** Bytes of a JSON string body: text, escapes, raw UTF-8 and (`invalid`) raw invalid UTF-8. */
function stringBody(rng: Rng, invalid: boolean, maxParts = 12): Buffer {
  const parts: Buffer[] = [];
  const n = rng.intBelow(maxParts + 1);
  for (let i = 0; i < n; i++) {
    const k = rng.intBelow(invalid ? 15 : 13);
    let s: string | Buffer;
    switch (k) {
      case 0: case 1: case 2: s = pick(rng, ['hello', 'a', ' world ', 'The cat sat.', '{', '}', '[', ']', ',', ':', 'x'.repeat(40), 'text', '0123456789abcdefXYZ~!']); break;
      case 3: s = pick(rng, ['\\"', '\\\\', '\\/', '\\b', '\\f', '\\n', '\\r', '\\t']); break;
      case 4: s = `\\u${hex4(rng, rng.intBelow(0x80))}`; break;
      case 5: { let v = rng.intBelow(0x10000); if (v >= 0xd800 && v < 0xe000) v = 0xe000 + (v & 0xff); s = `\\u${hex4(rng, v)}`; break; }
      case 6: s = `\\u${hex4(rng, 0xd800 + rng.intBelow(0x400))}\\u${hex4(rng, 0xdc00 + rng.intBelow(0x400))}`; break;
      case 7: s = pick(rng, [`\\u${hex4(rng, 0xd83d)}`, `\\u${hex4(rng, 0xde00)}`, '\\ud800\\ud800', '\\udc00\\ud800', '\\ud83dx', '\\ud83d\\n', '\\ud83d😀', '\\udbff\\udfff', '\\u0000']); break;
      case 8: s = pick(rng, ['é', 'naïve café', '€', '日本語', '😀', '🙃x', '\u2028', '\u00a0', '\ufeff', '\u007f', 'ß']); break;
      case 9: s = pick(rng, ['é😀', 'Ω', '\u{10ffff}', '\u0800', '\u07ff', '\uffff']); break;
      case 10: s = ' '.repeat(1 + rng.intBelow(3)); break;
      case 11: s = '\t'; break; // raw: not JSON
      case 12: s = 'w'.repeat(rng.intBelow(300)); break;
      default: {
        // Raw invalid UTF-8: stray continuation bytes, truncated sequences, overlongs, surrogates, out-of-range leads.
        const seqs = [[0x80], [0xbf], [0xc0, 0x80], [0xc1, 0xbf], [0xc2], [0xe2, 0x82], [0xe0, 0x80, 0x80], [0xe0, 0x9f, 0xbf], [0xed, 0xa0, 0x80],
          [0xed, 0xbf, 0xbf], [0xf0, 0x8f, 0xbf, 0xbf], [0xf0, 0x9f, 0x98], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80], [0xff], [0xfe], [0xf8, 0x88, 0x80, 0x80, 0x80],
          [0xe2, 0x28, 0xa1], [0xf0, 0x9f], [rng.intBelow(256) | 0x80]];
        s = Buffer.from(pick(rng, seqs));
      }
    }
    parts.push(typeof s === 'string' ? Buffer.from(s) : s);
  }
  return Buffer.concat(parts);
}

const ws = (rng: Rng): string => (rng.intBelow(4) === 0 ? pick(rng, [' ', '\t', '  ', ' \r ', '\r', '\t \t']) : '');

function number(rng: Rng): string {
  return pick(rng, ['0', '-0', '1', '-1', '42', '1234567890123456789012', '3.25', '-0.5', '1e10', '1E-5', '2.5e+3', '-7.0E+00', '0.0001', '9e999', '1e-999', `${rng.intBelow(1e6)}`]);
}

/** A JSON value (`depth` levels of nesting at most), possibly with a nested "text" key. */
function value(rng: Rng, depth: number, invalid: boolean): Buffer {
  const k = rng.intBelow(depth > 0 ? 9 : 6);
  const b = (s: string): Buffer => Buffer.from(s);
  switch (k) {
    case 0: case 1: return Buffer.concat([b('"'), stringBody(rng, invalid, 4), b('"')]);
    case 2: return b(number(rng));
    case 3: return b(pick(rng, ['true', 'false', 'null']));
    case 4: return b(number(rng));
    case 5: return b('""');
    case 6: case 7: {
      const n = rng.intBelow(4);
      const items: Buffer[] = [];
      for (let i = 0; i < n; i++) items.push(Buffer.concat([b(ws(rng)), value(rng, depth - 1, invalid), b(ws(rng))]));
      return Buffer.concat([b('['), ...(n === 0 ? [b(ws(rng))] : join(items, b(','))), b(']')]);
    }
    default: {
      const n = rng.intBelow(4);
      const items: Buffer[] = [];
      for (let i = 0; i < n; i++) {
        const key = rng.intBelow(3) === 0 ? b('"text"') : Buffer.concat([b('"'), stringBody(rng, invalid, 2), b('"')]);
        items.push(Buffer.concat([b(ws(rng)), key, b(ws(rng)), b(':'), b(ws(rng)), value(rng, depth - 1, invalid), b(ws(rng))]));
      }
      return Buffer.concat([b('{'), ...(n === 0 ? [b(ws(rng))] : join(items, b(','))), b('}')]);
    }
  }
}

function join(items: Buffer[], sep: Buffer): Buffer[] {
  const out: Buffer[] = [];
  items.forEach((x, i) => { if (i > 0) out.push(sep); out.push(x); });
  return out;
}

/** Ways of writing the key `field` (escaped, or not quite it). */
function keyFor(rng: Rng, field: string): Buffer {
  const plain = Buffer.from(JSON.stringify(field));
  if (field !== 'text') return rng.intBelow(4) === 0 ? Buffer.from(`"${field.split('').map((c) => `\\u${hex4(rng, c.charCodeAt(0))}`).join('')}"`) : plain;
  return Buffer.from(pick(rng, ['"text"', '"text"', '"text"', '"te\\u0078t"', '"\\u0074ext"', '"\\u0054ext"', '"Text"', '"text "', '"tex"', '"texts"', '"te\\/xt"']));
}

/** A record line (without its line end): an object with other keys, the field (maybe duplicated, maybe not a string), nesting. */
function record(rng: Rng, field: string): Buffer {
  const b = (s: string): Buffer => Buffer.from(s);
  const invalid = rng.intBelow(6) === 0;
  const members: Buffer[] = [];
  const n = 1 + rng.intBelow(5);
  for (let i = 0; i < n; i++) {
    const r = rng.intBelow(10);
    let key: Buffer, val: Buffer;
    if (r < 4) {
      key = keyFor(rng, field);
      val = rng.intBelow(6) === 0 ? value(rng, 2, invalid) : Buffer.concat([b('"'), stringBody(rng, invalid, rng.intBelow(8) === 0 ? 80 : 12), b('"')]);
    } else if (r < 5) {
      key = Buffer.concat([b('"'), stringBody(rng, rng.intBelow(10) === 0, 2), b('"')]);
      val = value(rng, 3, invalid);
    } else {
      key = b(pick(rng, ['"id"', '"meta"', '"url"', '"__proto__"', '"constructor"', '""', '"ïd"', '"a\\"b"']));
      val = value(rng, 3, invalid);
    }
    members.push(Buffer.concat([b(ws(rng)), key, b(ws(rng)), b(':'), b(ws(rng)), val, b(ws(rng))]));
  }
  if (rng.intBelow(40) === 0) {
    // Deep nesting, on either side of the native core's limit of 512.
    const d = pick(rng, [100, 511, 512, 513, 700]);
    members.push(b(`"deep":${'['.repeat(d)}1${']'.repeat(d)}`));
  }
  return Buffer.concat([b(ws(rng)), b('{'), ...join(members, b(',')), b('}'), b(ws(rng))]);
}

/** A line that is not a good record: a mutation of one, or something else. */
function badLine(rng: Rng, field: string): Buffer {
  const r = record(rng, field);
  const b = (s: string): Buffer => Buffer.from(s);
  switch (rng.intBelow(12)) {
    case 0: return r.subarray(0, rng.intBelow(r.length));
    case 1: { const c = Buffer.from(r); c[rng.intBelow(c.length)] = rng.intBelow(256); return c; }
    case 2: { const c = Buffer.from(r); c[rng.intBelow(c.length)] = pick(rng, [0x22, 0x5c, 0x2c, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x00, 0x1f, 0x0b, 0x0c]); return c; }
    case 3: { const i = r.lastIndexOf('}'); return Buffer.concat([r.subarray(0, i), b(','), r.subarray(i)]); }
    case 4: { const i = rng.intBelow(r.length); return Buffer.concat([r.subarray(0, i), Buffer.from([rng.intBelow(0x20)]), r.subarray(i)]); }
    case 5: return b(pick(rng, ['[1,2]', '"text"', '42', 'null', 'true', '{"text":"a"} {"text":"b"}', '{"text":"a"}x', '{"text":"a",,"b":1}', '{"text" "a"}', "{'text':'a'}", '{"text":"\\x41"}', '{"text":"\\u12"}', '{"text":01}', '{"text":"a","b":[1,]}', '{"text":"a","b":1.}', '{"text":"a","b":.5}', '{"text":"a","b":+1}', '{"text":"a","b":tru}', '{"text":"a","b":NaN}']));
    case 6: return Buffer.concat([b('\ufeff'), r]);
    case 7: return b(pick(rng, ['', ' ', '\t', '\r', ' \t\r ', '\u00a0', '\u2028', '\ufeff', '\v', '\f', ' \u3000 ']));
    case 8: return Buffer.concat([r, b(pick(rng, ['\u00a0', '\v', '\f', '\u0000']))]);
    case 9: return b(`{"${field === 'text' ? 'body' : 'text'}":"x"}`);
    case 10: return b(`{${JSON.stringify(field)}:${pick(rng, ['null', '1', '[]', '{}', 'true', '["x"]'])}}`);
    default: { const c = Buffer.from(r); const i = rng.intBelow(c.length); c.copyWithin(i, i + 1); return c.subarray(0, c.length - 1); }
  }
}

/** A JSON Lines file: good and bad lines, blank ones, LF or CRLF ends, maybe no final LF. */
function file(rng: Rng, field: string, lines: number, badShare: number): Buffer {
  const parts: Buffer[] = [Buffer.from(`{"text":"first","${field.replace(/["\\]/g, '')}":"first"}\n`)];
  for (let i = 0; i < lines; i++) {
    parts.push(rng.uniform() < badShare ? badLine(rng, field) : record(rng, field));
    parts.push(Buffer.from(rng.intBelow(5) === 0 ? '\r\n' : '\n'));
  }
  if (rng.intBelow(2) === 0) parts.pop();
  return Buffer.concat(parts);
}

// ---- the readers -----------------------------------------------------------

/** The pieces a decoder might yield: `bytes` cut at random (sizes up to `max`). */
function pieces(rng: Rng, bytes: Buffer, max: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const n = 1 + rng.intBelow(max);
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

interface Outcome { bytes: Buffer; counts: Record<string, number>; warnings: string[]; error?: string }

async function read(parts: readonly Buffer[], o: Partial<RecordOptions> & { engine: 'auto' | 'ts' }): Promise<Outcome> {
  const counts: Record<string, number> = {};
  const warnings: string[] = [];
  const got: Uint8Array[] = [];
  async function* source(): AsyncGenerator<Uint8Array> { for (const p of parts) yield p; }
  const opts: RecordOptions = {
    textField: 'text', separator: SEP, skipBadRecords: false, ...o,
    count: (k, n) => { counts[k] = (counts[k] ?? 0) + n; }, warn: (m) => warnings.push(m),
  };
  let error: string | undefined;
  try {
    for await (const p of jsonlDocuments(source(), 'f.jsonl', opts)) for (const q of (p instanceof Uint8Array ? [p] : p)) got.push(q);
  } catch (e) {
    error = (e as Error).message;
  }
  return { bytes: Buffer.concat(got), counts, warnings, ...(error !== undefined ? { error } : {}) };
}

/** Reads `parts` both ways and asserts the same outcome; returns the native run's. */
async function same(parts: readonly Buffer[], o: Partial<RecordOptions>, what: string): Promise<Outcome> {
  const ts = await read(parts, { ...o, engine: 'ts' });
  const nat = await read(parts, { ...o, engine: 'auto' });
  assert.equal(ts.counts.jsonl_native_documents, undefined, what);
  const { jsonl_native_documents: nativeDocs = 0, ...natCounts } = nat.counts;
  assert.ok(nativeDocs <= (nat.counts.documents ?? 0), what);
  assert.equal(nat.error, ts.error, what);
  assert.deepEqual(natCounts, ts.counts, what);
  assert.deepEqual(nat.warnings, ts.warnings, what);
  assert.ok(nat.bytes.equals(ts.bytes), `${what}: documents differ (native ${nat.bytes.length} bytes, ts ${ts.bytes.length})`);
  return nat;
}

/** The TypeScript oracle for one line: the document's bytes, or null when it is not one. */
function oracle(line: Buffer, field: string): Buffer | null {
  let rec: unknown;
  try { rec = JSON.parse(line.toString('utf8')); } catch { return null; }
  if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) return null;
  const t = (rec as Record<string, unknown>)[field];
  return typeof t === 'string' ? Buffer.from(t, 'utf8') : null;
}

// ---- the tests -------------------------------------------------------------

describe('native JSON Lines extraction', { skip }, () => {
  it('accepts only lines whose document it gets exactly right, and most good ones', () => {
    const run = extract();
    const result = new Float64Array(5);
    for (const field of ['text', 'body', '', 'é', '😀', '__proto__', 'constructor']) {
      const rng = new Rng(field.length * 7919 + 11);
      const fieldBytes = Buffer.from(field);
      let good = 0, goodAccepted = 0, accepted = 0;
      for (let i = 0; i < 6000; i++) {
        const line = i % 3 === 0 ? badLine(rng, field) : record(rng, field);
        if (line.length === 0 || line.includes(0x0a)) continue;
        const out = Buffer.alloc(line.length * 3 + SEP.length + 16);
        const status = run(line, 0, line.length, fieldBytes, SEP, out, 0, result);
        const want = oracle(line, field);
        const blank = /^[ \t\r]*$/.test(line.toString('latin1'));
        if (status === JSONL_DONE) {
          assert.equal(result[3], 1, 'one line handled');
          if (blank) { assert.equal(result[4], 0); assert.equal(result[2], 0); continue; }
          accepted++;
          assert.equal(result[4], 1);
          assert.ok(want !== null, `accepted a line JSON.parse does not give a document for: ${JSON.stringify(line.toString('latin1'))}`);
          const got = out.subarray(0, result[2]);
          assert.ok(got.equals(Buffer.concat([want, SEP])), `field ${JSON.stringify(field)}, line ${JSON.stringify(line.toString('latin1'))}: ${got.toString('hex')} vs ${want.toString('hex')}`);
        } else {
          assert.equal(status, JSONL_DEFER, 'an output buffer 3× the line never fills');
          assert.deepEqual([result[0], result[1], result[2], result[3], result[4]], [0, line.length, 0, 0, 0]);
        }
        // "Plain" good records: no raw invalid UTF-8 or lone surrogate escape in keys, no deep nesting.
        if (want !== null) {
          good++;
          if (status === JSONL_DONE) goodAccepted++;
        }
      }
      assert.ok(accepted > 500, `field ${JSON.stringify(field)}: only ${accepted} lines accepted`);
      assert.ok(goodAccepted / good > 0.8, `field ${JSON.stringify(field)}: accepted ${goodAccepted} of ${good} good records`);
    }
  });

  it('the reader gives the same documents, counts, warnings and errors with and without it', async () => {
    for (let seed = 1; seed <= 24; seed++) {
      const rng = new Rng(seed);
      const field = pick(rng, ['text', 'text', 'text', 'body', 'é', '']);
      const bytes = file(rng, field, 150, seed % 3 === 0 ? 0 : 0.15);
      for (const maxPiece of [bytes.length, 4096, 97, 7]) {
        const parts = pieces(rng, bytes, maxPiece);
        for (const skipBadRecords of [false, true]) {
          const what = `seed ${seed}, field ${JSON.stringify(field)}, pieces ≤ ${maxPiece}, skipBadRecords ${skipBadRecords}`;
          const nat = await same(parts, { textField: field, skipBadRecords }, what);
          if (skipBadRecords) assert.ok((nat.counts.jsonl_native_documents ?? 0) > 0, `${what}: the native core read no document`);
        }
      }
    }
  });

  it('a good file is read by the native core alone, in any pieces', async () => {
    const rng = new Rng(99);
    const docs: string[] = [];
    for (let i = 0; i < 300; i++) docs.push(stringBody(rng, false, 30).toString('latin1').replace(/\t/g, '\\t')); // a raw tab is not JSON
    const bytes = Buffer.concat(Array.from({ length: docs.length }, (_, i) => Buffer.concat([Buffer.from(`{"id":${i},"text":"`), Buffer.from(docs[i], 'latin1'), Buffer.from(`","meta":{"text":null,"n":[1,2.5e3,{"a":"b"}]}}${i % 2 ? '\r\n' : '\n'}`)])));
    for (const max of [bytes.length, 1000, 13]) {
      const nat = await same(pieces(rng, bytes, max), {}, `pieces ≤ ${max}`);
      assert.equal(nat.counts.documents, 300);
      assert.equal(nat.counts.jsonl_native_documents, 299, 'all but the first record (TypeScript checks how the file starts)');
    }
  });

  it('documents that outgrow the output buffer (invalid UTF-8 triples) and long lines across pieces', async () => {
    const rng = new Rng(5);
    const big = Buffer.alloc(700_000, 0xff);
    const lines = [
      Buffer.from('{"text":"small"}'),
      Buffer.concat([Buffer.from('{"text":"'), big, Buffer.from('"}')]),
      Buffer.concat([Buffer.from('{"id":1,"text":"'), Buffer.alloc(1_500_000, 0x61), Buffer.from('\\n"}')]),
      Buffer.from('{"text":"after"}'),
      Buffer.concat([Buffer.from('{"text":"'), Buffer.alloc(400_000, 0xc3), Buffer.from('"}')]),
    ];
    const bytes = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
    for (const max of [bytes.length, 65536]) {
      const nat = await same(pieces(rng, bytes, max), {}, `pieces ≤ ${max}`);
      assert.equal(nat.counts.jsonl_native_documents, 4, 'all but the first record');
      assert.equal(nat.bytes.length, 5 + 700_000 * 3 + 1_500_001 + 5 + 400_000 * 3 + 5 * SEP.length);
    }
  });

  it('the first line is still TypeScript\'s: BOM, blank lines, a JSON array', async () => {
    for (const text of ['\ufeff{"text":"a"}\n{"text":"b"}\n', '\n \r\n\t\n{"text":"a"}\n', '[{"text":"a"}]\n', ' \n[1]\n{"text":"a"}\n', 'nope\n{"text":"a"}\n', '\ufeff\n{"text":"a"}\n']) {
      for (const skipBadRecords of [false, true]) await same([Buffer.from(text)], { skipBadRecords }, JSON.stringify(text));
    }
  });

  it('stops at a line it defers or that does not fit, and says where', () => {
    const run = extract();
    const r = new Float64Array(5);
    const src = Buffer.from('{"text":"abc"}\n\n{"text":1}\n{"text":"de"}\n{"text":"fghij"}');
    const out = Buffer.alloc(64);
    assert.equal(run(src, 0, src.length, Buffer.from('text'), SEP, out, 0, r), JSONL_DEFER);
    assert.deepEqual(Array.from(r), [16, 26, 3 + SEP.length, 2, 1]);
    assert.equal(run(src, 27, src.length, Buffer.from('text'), Buffer.from('|'), out, 10, r), JSONL_DONE);
    assert.deepEqual(Array.from(r), [src.length, src.length, 10 + 3 + 6, 2, 2]);
    assert.equal(out.subarray(10, 19).toString(), 'de|fghij|');
    const small = Buffer.alloc(8);
    assert.equal(run(src, 27, src.length, Buffer.from('text'), Buffer.from('|'), small, 2, r), JSONL_FULL);
    assert.deepEqual(Array.from(r), [41, src.length, 5, 1, 1]);
    assert.equal(small.subarray(2, 5).toString(), 'de|');
  });

  it('checks its arguments and throws TypeErrors', () => {
    const run = extract();
    const src = Buffer.from('{"text":"a"}\n');
    const f = Buffer.from('text');
    const out = Buffer.alloc(16);
    const r = new Float64Array(5);
    const bad = (fn: () => unknown, re: RegExp): void => assert.throws(fn, (e: unknown) => e instanceof TypeError && re.test((e as Error).message));
    bad(() => run('x' as unknown as Uint8Array, 0, 1, f, SEP, out, 0, r), /argument 0 must be a Uint8Array/);
    bad(() => run(src, 0, src.length + 1, f, SEP, out, 0, r), /argument 2 must be an integer/);
    bad(() => run(src, 5, 2, f, SEP, out, 0, r), /argument 2 must not be below argument 1/);
    bad(() => run(src, -1, 2, f, SEP, out, 0, r), /argument 1 must be an integer/);
    bad(() => run(src, 0.5, 2, f, SEP, out, 0, r), /argument 1 must be an integer/);
    bad(() => run(src, 0, 2, new Uint16Array(2) as unknown as Uint8Array, SEP, out, 0, r), /argument 3 must be a Uint8Array/);
    bad(() => run(src, 0, 2, f, SEP, out, 17, r), /argument 6 must be an integer in \[0, 16\]/);
    bad(() => run(src, 0, 2, f, SEP, out, 0, new Float64Array(4)), /argument 7 must have at least 5 elements/);
    bad(() => run(src, 0, 2, f, SEP, out, 0, new Float32Array(5) as unknown as Float64Array), /argument 7 must be a Float64Array/);
    bad(() => run(src, 0, 2, f, SEP, src.subarray(4), 0, r), /argument 5 must not share memory with argument 0/);
    bad(() => (run as unknown as (...a: unknown[]) => number)(src, 0, 2), /argument 3 must be a Uint8Array/);
  });
});
