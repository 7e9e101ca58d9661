/**
 * The reader's formats (src/stages/formats/): gzip, zstd, JSON Lines and
 * Parquet inputs read as the bytes of the equivalent text file (and so
 * encode to the same ids), with magic-number checks, one-line errors with
 * positions, and bounded memory. Compressed files are made with the gzip
 * and zstd CLIs; Parquet files with hyparquet-writer.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { readInputs, resolveInputs, byteRange, CHUNK_HEADROOM, type InputFile, type ReaderOptions } from '../src/stages/read-inputs.ts';
import { formatOf, readerOptions } from '../src/stages/formats/index.ts';
import { readFiles } from '../src/stages/read.ts';
import { readDocuments } from '../src/stages/read-documents.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { chain, runChain, type Sink } from '../src/pipeline/stage.ts';
import { encodeCut } from '../src/tokenizer/encode-files.ts';
import { encodeUnits } from '../src/stages/encode-units.ts';
import { trainBpe } from '../src/tokenizer/bpe-train.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import type { Unit } from '../src/stages/items.ts';

const SEP = '<|endoftext|>';
const dir = mkdtempSync(join(tmpdir(), 'lmpipe-formats-'));
const path = (name: string): string => join(dir, name);
after(() => rmSync(dir, { recursive: true, force: true }));

/** Documents with what text has: several lines, UTF-8, tabs, quotes, backslashes, an empty one, one longer than a chunk. */
function documents(n: number, seed = 7): string[] {
  const words = ['the', 'cat', 'naïve', 'café', '日本語', '🙃', 'said', '"quoted"', 'back\\slash', 'tab\there', 'end.', '\n', '\r\n', 'it\'s', '42'];
  let s = seed;
  const docs: string[] = [];
  for (let i = 0; i < n; i++) {
    const len = i === 3 ? 0 : i === 5 ? 6000 : 5 + (i * 37) % 200;
    let d = '';
    for (let w = 0; w < len; w++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      d += (w ? ' ' : '') + words[(s >>> 16) % words.length];
    }
    docs.push(d);
  }
  return docs;
}

/** The equivalent text file's contents: each document followed by the separator (the last one too). */
const joined = (docs: readonly string[]): Buffer => Buffer.from(docs.map((d) => d + SEP).join(''), 'utf8');

async function readAll(p: string | string[], chunkBytes: number, o: ReaderOptions = { separator: SEP }) {
  const files = await resolveInputs(Array.isArray(p) ? p : [p]);
  const chunks = [];
  for await (const c of readInputs(files, chunkBytes, o)) chunks.push(c);
  return chunks;
}

/** Reads `p` and checks the chunk contract: owned buffers with headroom, sizes, offsets, one `last` per input. */
async function readChecked(p: string, chunkBytes: number, o: ReaderOptions = { separator: SEP }): Promise<Buffer> {
  const chunks = await readAll(p, chunkBytes, o);
  let offset = 0;
  for (const [i, c] of chunks.entries()) {
    assert.equal(c.file, p);
    assert.ok(c.data.length <= chunkBytes, `chunk ${i} of ${p} has ${c.data.length} bytes > ${chunkBytes}`);
    assert.equal(c.data.byteOffset, CHUNK_HEADROOM, 'headroom in front of the data');
    assert.ok(c.data.buffer.byteLength >= CHUNK_HEADROOM + c.data.length && c.data.buffer.byteLength <= CHUNK_HEADROOM + chunkBytes, 'a chunk buffer');
    assert.equal(c.offset, offset, 'offsets follow the decoded stream');
    assert.equal(c.last, i === chunks.length - 1);
    offset += c.data.length;
  }
  assert.equal(new Set(chunks.map((c) => c.data.buffer)).size, chunks.length, 'each chunk owns its ArrayBuffer');
  return Buffer.concat(chunks.map((c) => c.data));
}

/** A rejection that is a one-line UserError matching `re`. */
function oneLine(re: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${(e as Error)?.stack}`);
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    assert.match(e.message, re);
    return true;
  };
}

const sh = (cmd: string, args: string[]): void => { execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] }); };

const DOCS = documents(400);
const TEXT = joined(DOCS);
const jsonl = (docs: readonly string[]): string => docs.map((d, i) => JSON.stringify({ id: i, text: d, meta: { n: i } })).join('\n') + '\n';

function writeParquet(p: string, docs: readonly (string | null)[], o: { rowGroupSize: number; codec: 'SNAPPY' | 'GZIP' | 'BROTLI' | 'UNCOMPRESSED'; column?: string }): void {
  const buf = parquetWriteBuffer({
    columnData: [
      { name: 'id', data: docs.map((_, i) => i), type: 'INT32' },
      { name: o.column ?? 'text', data: docs as string[], type: 'STRING' },
    ],
    codec: o.codec,
    compressors: { GZIP: (b: Uint8Array) => gzipSync(b), BROTLI: (b: Uint8Array) => brotliCompressSync(b) },
    rowGroupSize: o.rowGroupSize,
  });
  writeFileSync(p, new Uint8Array(buf));
}

test('formats are picked by name', () => {
  const names = ['a.txt', 'a', 'a.gz', 'a.txt.zst', 'a.jsonl', 'a.json', 'A.JSONL.GZ', 'a.jsonl.zst', 'a.parquet', 'a.tar'];
  assert.deepEqual(names.map((n) => formatOf(n).name), ['text', 'text', 'gzip', 'zstd', 'jsonl', 'jsonl', 'jsonl.gz', 'jsonl.zst', 'parquet', 'text']);
});

/** The same documents in every format (the .txt and its compressed copies by the CLIs, JSON Lines, Parquet). */
before(() => {
  for (const tool of ['gzip', 'zstd']) {
    if (spawnSync(tool, ['--version']).status !== 0) throw new Error(`these tests make their files with the ${tool} CLI: install it (apt-get install -y ${tool})`);
  }
  writeFileSync(path('c.txt'), TEXT);
  writeFileSync(path('c.jsonl'), jsonl(DOCS));
  writeFileSync(path('c.json'), jsonl(DOCS).replace(/\n/g, '\r\n'));
  sh('gzip', ['-k', '-f', path('c.txt')]);
  sh('zstd', ['-q', '-f', path('c.txt'), '-o', path('c.txt.zst')]);
  sh('gzip', ['-k', '-f', path('c.jsonl')]);
  sh('zstd', ['-q', '-f', '-19', path('c.jsonl'), '-o', path('c.jsonl.zst')]);
  // Several gzip members and several zstd frames: what `cat a.gz b.gz` and `cat a.zst b.zst` make.
  const half = Math.floor(DOCS.length / 2);
  writeFileSync(path('h1.jsonl'), jsonl(DOCS.slice(0, half)));
  writeFileSync(path('h2.jsonl'), jsonl(DOCS.slice(half)));
  sh('gzip', ['-k', '-f', path('h1.jsonl'), path('h2.jsonl')]);
  sh('zstd', ['-q', '-f', path('h1.jsonl'), path('h2.jsonl')]);
  writeFileSync(path('multi.jsonl.gz'), Buffer.concat([readFileSync(path('h1.jsonl.gz')), readFileSync(path('h2.jsonl.gz'))]));
  writeFileSync(path('multi.jsonl.zst'), Buffer.concat([readFileSync(path('h1.jsonl.zst')), readFileSync(path('h2.jsonl.zst'))]));
  writeParquet(path('c.parquet'), DOCS, { rowGroupSize: 64, codec: 'SNAPPY' });
  writeParquet(path('g.parquet'), DOCS, { rowGroupSize: 100, codec: 'GZIP' });
  writeParquet(path('b.parquet'), DOCS, { rowGroupSize: 150, codec: 'BROTLI' });
});

test('every format decodes to the bytes of the equivalent .txt, in bounded chunks with headroom', async () => {
  for (const name of ['c.txt', 'c.txt.gz', 'c.txt.zst', 'c.jsonl', 'c.json', 'c.jsonl.gz', 'c.jsonl.zst', 'multi.jsonl.gz', 'multi.jsonl.zst', 'c.parquet', 'g.parquet', 'b.parquet']) {
    for (const chunkBytes of [4096, 1 << 20]) {
      const got = await readChecked(path(name), chunkBytes);
      assert.ok(got.equals(TEXT), `${name}, chunk ${chunkBytes}: ${got.length} bytes vs ${TEXT.length}`);
    }
  }
});

test('the read stages report compressed and decoded bytes and documents; read-documents aligns JSON Lines documents', async () => {
  const counters = async (stage: ReturnType<typeof readFiles>) => {
    const sink: Sink<Unit, Buffer> = { name: 'sink', description: 'collect', async consume(src) { const parts = []; for await (const u of src) parts.push(Buffer.from(u.data)); return Buffer.concat(parts); } };
    return runChain(chain(stage, sink), { signal: new AbortController().signal, log: () => {}, warn: () => {} });
  };
  const files = await resolveInputs([path('c.jsonl.zst')]);
  const r = await counters(readFiles({ files, chunkBytes: 8192, reader: readerOptions({}, SEP) }));
  assert.ok(r.result.equals(TEXT));
  assert.equal(r.stages.read.compressed_bytes, statSync(path('c.jsonl.zst')).size);
  assert.equal(r.stages.read.decoded_bytes, TEXT.length);
  assert.equal(r.stages.read.documents, DOCS.length);
  const d = await counters(readDocuments({ files: await resolveInputs([path('c.parquet')]), chunkBytes: 8192, separator: SEP }));
  assert.ok(d.result.equals(TEXT));
  assert.equal(d.stages.read.documents, DOCS.length);
  assert.ok((d.stages.read.compressed_bytes ?? 0) > 0);
});

test('JSON Lines and Parquet encode to the same ids as the equivalent .txt', async () => {
  const trained = await trainBpe({ input: TEXT, vocabSize: 256 + 1 + 200, specialTokens: [SEP], workers: 0 });
  const tok = Tokenizer.fromVocabMerges(trained.vocab, trained.merges, [SEP]);
  const spec = tok.encoderSpec();
  const ids = async (name: string): Promise<number[]> => {
    const encode = encodeUnits({ spec, workers: 0 });
    const out: number[] = [];
    const sink: Sink<{ ids: ArrayLike<number> }, void> = { name: 'ids', description: 'collect', async consume(src) { for await (const u of src) for (const id of Array.from(u.ids)) out.push(id); } };
    try {
      await runChain(chain(readFiles({ files: await resolveInputs([path(name)]), chunkBytes: 5000, reader: { separator: SEP } }), encodeCut(spec, 5000), encode, sink), { signal: new AbortController().signal, log: () => {}, warn: () => {} });
    } finally {
      await encode.close();
    }
    return out;
  };
  const expected = tok.encodeToIds(TEXT.toString('utf8'));
  for (const name of ['c.txt', 'c.jsonl.zst', 'c.jsonl.gz', 'c.parquet']) assert.deepEqual(await ids(name), Array.from(expected), name);
});

test('truncated and corrupt gzip and zstd are one-line errors with the compressed offset', async () => {
  const gz = readFileSync(path('c.jsonl.gz'));
  const zs = readFileSync(path('c.jsonl.zst'));
  writeFileSync(path('t.jsonl.gz'), gz.subarray(0, gz.length >> 1));
  writeFileSync(path('t.jsonl.zst'), zs.subarray(0, zs.length >> 1));
  // Corrupt text inside the deflate stream: found by the CRC at the member's end (a .txt.gz, so no JSON error comes first).
  const tgz = readFileSync(path('c.txt.gz'));
  const badGz = Buffer.from(tgz); badGz[tgz.length >> 1] ^= 0xff; badGz[(tgz.length >> 1) + 1] ^= 0x55;
  writeFileSync(path('x.txt.gz'), badGz);
  // The first block header made invalid (reserved block type 3): it follows the frame header, whose size its descriptor gives.
  const fhd = zs[4];
  const single = (fhd >> 5) & 1;
  const fcs = fhd >> 6;
  const headerBytes = 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3] + (fcs === 0 ? single : [1, 2, 4, 8][fcs]);
  const badZs = Buffer.from(zs); badZs[headerBytes] |= 0x06;
  writeFileSync(path('x.jsonl.zst'), badZs);
  await assert.rejects(readAll(path('t.jsonl.gz'), 4096), oneLine(new RegExp(`t\\.jsonl\\.gz: the gzip stream is truncated .*compressed byte ${gz.length >> 1} of ${gz.length >> 1}`)));
  await assert.rejects(readAll(path('t.jsonl.zst'), 4096), oneLine(new RegExp(`t\\.jsonl\\.zst: the zstd stream is truncated .*compressed byte ${zs.length >> 1} of`)));
  await assert.rejects(readAll(path('x.txt.gz'), 4096), oneLine(/x\.txt\.gz: corrupt gzip data at compressed byte \d+ of \d+/));
  await assert.rejects(readAll(path('x.jsonl.zst'), 4096), oneLine(/x\.jsonl\.zst: corrupt zstd data at or before compressed byte \d+ of \d+/));
});

test('bad JSON Lines records: an error with file and line, or skipped and counted', async () => {
  const lines = jsonl(DOCS.slice(0, 10)).split('\n');
  lines.splice(4, 0, '{"text": "unterminated');            // line 5
  lines.splice(7, 0, '{"body": "no text field"}');          // line 8
  lines.splice(9, 0, '{"text": 42}', '["an array"]', '');   // lines 10, 11, and a blank line
  writeFileSync(path('bad.jsonl'), lines.join('\n'));
  await assert.rejects(readAll(path('bad.jsonl'), 4096), oneLine(/bad\.jsonl:5: not JSON .*--skip-bad-records/));
  writeFileSync(path('nofield.jsonl'), '{"text":"a"}\n{"body":"b","id":1}\n');
  await assert.rejects(readAll(path('nofield.jsonl'), 4096), oneLine(/nofield\.jsonl:2: the record has no "text" field \(its fields: "body", "id"\); pass --text-field NAME/));
  writeFileSync(path('num.jsonl'), '{"text":"a"}\n\n{"text":null}\n');
  await assert.rejects(readAll(path('num.jsonl'), 4096), oneLine(/num\.jsonl:3: the record's "text" field is null, not a string/));
  const counts: Record<string, number> = {};
  const warnings: string[] = [];
  const got = Buffer.concat((await readAll(path('bad.jsonl'), 4096, {
    separator: SEP, skipBadRecords: true, count: (k, n) => { counts[k] = (counts[k] ?? 0) + n; }, warn: (m) => warnings.push(m),
  })).map((c) => c.data));
  assert.ok(got.equals(joined(DOCS.slice(0, 10))));
  assert.equal(counts.skipped_records, 4);
  assert.equal(counts.documents, 10);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /bad\.jsonl:5: not JSON/);
  // Another field; a JSON array file; no separator.
  writeFileSync(path('body.jsonl'), '{"body":"x"}\n{"body":"y"}');
  assert.equal(Buffer.concat((await readAll(path('body.jsonl'), 64, { separator: SEP, textField: 'body' })).map((c) => c.data)).toString(), `x${SEP}y${SEP}`);
  writeFileSync(path('array.json'), '[{"text": "a"},\n{"text": "b"}]\n');
  await assert.rejects(readAll(path('array.json'), 4096), oneLine(/array\.json is one JSON array, not JSON Lines .*jq -c/));
  await assert.rejects(readAll(path('body.jsonl'), 4096, {}), oneLine(/body\.jsonl is JSON Lines: .*needs the document separator.*--separator/));
  await assert.rejects(readAll(path('c.parquet'), 4096, {}), oneLine(/c\.parquet is Parquet: .*--separator/));
});

test('Parquet: a missing column lists the columns; nulls, truncation and a byte range are errors', async () => {
  writeParquet(path('other.parquet'), DOCS.slice(0, 20), { rowGroupSize: 8, codec: 'SNAPPY', column: 'content' });
  await assert.rejects(readAll(path('other.parquet'), 4096), oneLine(/other\.parquet has no column "text" \(its columns: "id", "content"\); pass --text-field NAME/));
  const viaField = Buffer.concat((await readAll(path('other.parquet'), 4096, { separator: SEP, textField: 'content' })).map((c) => c.data));
  assert.ok(viaField.equals(joined(DOCS.slice(0, 20))));
  await assert.rejects(readAll(path('other.parquet'), 4096, { separator: SEP, textField: 'id' }), oneLine(/column "id" is of type INT32, not a string column/));
  writeParquet(path('nulls.parquet'), ['a', 'b', null, 'd', null], { rowGroupSize: 2, codec: 'UNCOMPRESSED' });
  await assert.rejects(readAll(path('nulls.parquet'), 4096), oneLine(/nulls\.parquet: row 2 \(row group 1\) has no text/));
  const counts: Record<string, number> = {};
  const kept = Buffer.concat((await readAll(path('nulls.parquet'), 4096, { separator: SEP, skipBadRecords: true, count: (k, n) => { counts[k] = (counts[k] ?? 0) + n; } })).map((c) => c.data));
  assert.equal(kept.toString(), `a${SEP}b${SEP}d${SEP}`);
  assert.equal(counts.skipped_records, 2);
  const pq = readFileSync(path('c.parquet'));
  writeFileSync(path('cut.parquet'), pq.subarray(0, pq.length - 100));
  await assert.rejects(readAll(path('cut.parquet'), 4096), oneLine(/cut\.parquet is not a whole Parquet file \(no PAR1 magic at its end/));
  // Only the footer and the text column's chunks are read: a 3 MB column of other data stays on disk.
  const junk = DOCS.map(() => randomBytes(6000).toString('base64'));
  writeFileSync(path('wide.parquet'), new Uint8Array(parquetWriteBuffer({
    columnData: [{ name: 'text', data: DOCS, type: 'STRING' }, { name: 'junk', data: junk, type: 'STRING' }], rowGroupSize: 50,
  })));
  const read: Record<string, number> = {};
  const wide = Buffer.concat((await readAll(path('wide.parquet'), 1 << 16, { separator: SEP, count: (k, n) => { read[k] = (read[k] ?? 0) + n; } })).map((c) => c.data));
  assert.ok(wide.equals(TEXT));
  const size = statSync(path('wide.parquet')).size;
  assert.ok(size > 3e6 && read.compressed_bytes < size / 3, `read ${read.compressed_bytes} of ${size} bytes`);
});

test('byte ranges of record files (shards): Parquet reads the row groups that start in the range, JSON Lines the lines; compressed files are refused', async () => {
  const whole = async (files: InputFile[]): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const c of readInputs(files, 4096, { separator: SEP })) chunks.push(Buffer.from(c.data));
    return Buffer.concat(chunks);
  };
  const [pq] = await resolveInputs([path('c.parquet')]);
  const [jl] = await resolveInputs([path('c.jsonl')]);
  const expected = await whole([pq]);
  const expectedJl = await whole([jl]);
  for (const cut of [1, 4, 1000, pq.size >> 1, pq.size - 8]) {
    assert.ok(Buffer.concat([await whole([byteRange(pq, 0, cut)]), await whole([byteRange(pq, cut, pq.size)])]).equals(expected), `Parquet split at byte ${cut}`);
  }
  const text = readFileSync(path('c.jsonl'));
  const lineStart = text.indexOf(0x0a, text.length >> 1) + 1;
  assert.ok(Buffer.concat([await whole([byteRange(jl, 0, lineStart)]), await whole([byteRange(jl, lineStart, jl.size)])]).equals(expectedJl), 'JSON Lines split at a line start');
  // A bad line inside a range names the range's first byte and the line counted from it.
  writeFileSync(path('range-bad.jsonl'), '{"text":"a"}\n{"text":"b"}\n{"text":"c"}\nnot json\n');
  const [bad] = await resolveInputs([path('range-bad.jsonl')]);
  await assert.rejects(whole([byteRange(bad, 13, bad.size)]), oneLine(/range-bad\.jsonl \(line 3 counted from byte 13\): not JSON/));
  const [gz] = await resolveInputs([path('c.jsonl.gz')]);
  await assert.rejects(whole([byteRange(gz, 0, 10)]), oneLine(/c\.jsonl\.gz is jsonl\.gz: a byte range of it cannot be read/));
});

test('magic numbers: a .gz named .txt is refused (or read raw with forceText); a name that lies is refused', async () => {
  writeFileSync(path('gz-as.txt'), readFileSync(path('c.txt.gz')));
  await assert.rejects(readAll(path('gz-as.txt'), 4096), oneLine(/gz-as\.txt is read as text but is gzip data .*name it \.gz .*--force-text/));
  const raw = Buffer.concat((await readAll(path('gz-as.txt'), 4096, { forceText: true })).map((c) => c.data));
  assert.ok(raw.equals(readFileSync(path('c.txt.gz'))));
  writeFileSync(path('zst-as.jsonl'), readFileSync(path('c.jsonl.zst')));
  await assert.rejects(readAll(path('zst-as.jsonl'), 4096), oneLine(/zst-as\.jsonl is read as text but is zstd data/));
  writeFileSync(path('pq-as.txt'), readFileSync(path('c.parquet')));
  await assert.rejects(readAll(path('pq-as.txt'), 4096), oneLine(/is Parquet data/));
  writeFileSync(path('text.gz'), 'plain text\n');
  await assert.rejects(readAll(path('text.gz'), 4096), oneLine(/text\.gz is named \.gz but is not gzip data \(no 1f 8b magic: it starts with bytes 70 6c 61 69\); rename it/));
  await assert.rejects(readAll(path('c.txt.gz').replace('.txt.gz', '.txt.zst.gz'), 4096).catch(() => { throw new UserError('x'); }), UserError);
  writeFileSync(path('gz.zst'), readFileSync(path('c.txt.gz')));
  await assert.rejects(readAll(path('gz.zst'), 4096), oneLine(/gz\.zst is named \.zst but is not zstd data \(no 28 b5 2f fd magic: it is gzip data\)/));
  writeFileSync(path('text.parquet'), 'not parquet at all, just text\n');
  await assert.rejects(readAll(path('text.parquet'), 4096), oneLine(/text\.parquet is named \.parquet but is not Parquet data/));
  // A .gz of a .gz: the decoded bytes are checked as text too.
  sh('gzip', ['-k', '-f', '-S', '.x.gz', path('c.txt.gz')]);
  await assert.rejects(readAll(path('c.txt.gz.x.gz'), 4096), oneLine(/\(decoded\) is read as text but is gzip data/));
});

test('text that is mostly control bytes is refused; a few stray NULs are kept', async () => {
  const text = Buffer.from('some text\u0000 with a NUL and \u0001\u0002 two controls, and a form feed \f.\n');
  writeFileSync(path('stray.txt'), text);
  assert.ok(Buffer.concat((await readAll(path('stray.txt'), 4096)).map((c) => c.data)).equals(text));
  const bin = Buffer.alloc(5000);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 7919) & 0xff;
  writeFileSync(path('bin.txt'), bin);
  await assert.rejects(readAll(path('bin.txt'), 4096), oneLine(/bin\.txt does not look like text: \d+ of its first 4096 bytes are NUL or control bytes \(the first at byte 0\); .*--force-text/));
  assert.equal(Buffer.concat((await readAll(path('bin.txt'), 4096, { forceText: true })).map((c) => c.data)).length, 5000);
  // A byte range starting inside a file skips the magic check but not the control-byte one.
  const [file] = await resolveInputs([path('c.txt')]);
  const part = [];
  for await (const c of readInputs([byteRange(file, 100, 900)], 256)) part.push(c.data);
  assert.ok(Buffer.concat(part).equals(TEXT.subarray(100, 900)));
});

test('memory stays bounded: a 20 MB .jsonl.zst streams in chunks of at most chunkBytes at low peak RSS', () => {
  // About 20 MB of JSON Lines, made here from generated words.
  const words = ['alpha', 'beta', 'gamma', 'delta', 'épsilon', '字', 'the', 'of', 'and', 'a', 'story', 'went', 'home', '\n'];
  const lines: string[] = [];
  let s = 1;
  let bytes = 0;
  while (bytes < 20e6) {
    let d = '';
    const n = 50 + (s % 400);
    for (let i = 0; i < n; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; d += words[(s >>> 16) % words.length] + ' '; }
    const line = JSON.stringify({ text: d });
    lines.push(line);
    bytes += line.length + 1;
  }
  writeFileSync(path('big.jsonl'), lines.join('\n') + '\n');
  lines.length = 0;
  sh('zstd', ['-q', '-f', '--rm', path('big.jsonl'), '-o', path('big.jsonl.zst')]);
  const chunkBytes = 1 << 20;
  const child = fileURLToPath(new URL('./helpers/read-formats-child.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', child, path('big.jsonl.zst'), String(chunkBytes), SEP], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const m = JSON.parse(r.stdout) as { bytes: number; chunks: number; maxChunk: number; maxHeld: number; baseRss: number; peakRss: number };
  assert.ok(m.bytes > 16e6, `decoded ${m.bytes} bytes`);
  assert.ok(m.maxChunk <= chunkBytes, `a chunk of ${m.maxChunk} bytes`);
  // Held after GC: the zstd window (2 MB at the CLI's default level), a read, a chunk being filled: far below the 20 MB read.
  const what = `reading ${(m.bytes / 1e6).toFixed(1)} MB (${(statSync(path('big.jsonl.zst')).size / 1e6).toFixed(1)} MB compressed)`;
  assert.ok(m.maxHeld < 12e6, `${(m.maxHeld / 1e6).toFixed(1)} MB held after GC while ${what}`);
  // Peak RSS also counts garbage not yet collected and memory the allocator keeps; holding the input would add 40+ MB.
  const grew = (m.peakRss - m.baseRss) / 1e6;
  assert.ok(grew < 40, `peak RSS grew by ${grew.toFixed(1)} MB while ${what}`);
});
