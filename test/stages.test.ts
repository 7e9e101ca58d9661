/** The stage runner (src/pipeline/stage.ts) and the document stages (src/stages/). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chain, passThrough, runChain } from '../src/pipeline/stage.ts';
import type { Sink, Stage } from '../src/pipeline/stage.ts';
import { dedupDocs, HashSet64 } from '../src/stages/dedup-docs.ts';
import { filterDocs } from '../src/stages/filter-docs.ts';
import { joinDocuments, unitDocuments } from '../src/stages/documents.ts';
import type { Unit } from '../src/stages/items.ts';

const SEP = '<|endoftext|>';
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A source stage yielding the given units. */
function units(...texts: string[]): Stage<void, Unit> {
  return {
    name: 'units',
    description: 'test units',
    bytesOf: (u) => u.data.length,
    async *run() {
      let offset = 0;
      for (const [seq, t] of texts.entries()) {
        const data = enc.encode(t);
        yield { seq, file: 'mem', offset, data, last: seq === texts.length - 1 };
        offset += data.length;
      }
    },
  };
}
const collect: Sink<Unit, string[]> = {
  name: 'collect',
  description: 'collects unit texts',
  async consume(source) {
    const out: string[] = [];
    for await (const u of source) out.push(dec.decode(u.data));
    return out;
  },
};
const opts = { signal: new AbortController().signal, log: () => {}, warn: () => {} };

test('unitDocuments / joinDocuments: a unit comes back byte-identical when every document is kept', () => {
  const sep = enc.encode(SEP);
  for (const t of ['', 'a', `a${SEP}`, `a${SEP}b`, `${SEP}${SEP}x${SEP}`, `one${SEP}two${SEP}three`]) {
    const data = enc.encode(t);
    const docs = unitDocuments(data, sep);
    assert.equal(dec.decode(joinDocuments(data, docs, sep)), t, JSON.stringify(t));
  }
  assert.deepEqual(unitDocuments(enc.encode(`a${SEP}bb`), sep), [{ start: 0, end: 1, separated: true }, { start: 14, end: 16, separated: false }]);
});

test('runChain: stages in order, per-stage reports (items, bytes, counters), switched-off stages left out', async () => {
  const upper: Stage<Unit, Unit> = {
    name: 'upper',
    description: 'upper-cases',
    bytesOf: (u) => u.data.length,
    async *run(source, ctx) {
      for await (const u of source) { ctx.count('seen'); yield { ...u, data: enc.encode(dec.decode(u.data).toUpperCase()) }; }
    },
  };
  const { result, stages } = await runChain(chain(units('ab', 'cde'), passThrough<Unit>('filter-docs'), upper, collect), opts);
  assert.deepEqual(result, ['AB', 'CDE']);
  assert.deepEqual(Object.keys(stages), ['units', 'upper', 'collect']);
  assert.equal(stages.units.items, 2);
  assert.equal(stages.units.bytes, 5);
  assert.equal(stages.upper.seen, 2);
  for (const r of Object.values(stages)) assert.ok(r.seconds >= 0);
});

test('runChain pulls: a slow sink keeps at most one item in each link', async () => {
  let produced = 0;
  let consumed = 0;
  let maxAhead = 0;
  const source: Stage<void, Unit> = {
    name: 'count', description: 'counts', async *run() {
      for (let i = 0; i < 50; i++) { produced++; maxAhead = Math.max(maxAhead, produced - consumed); yield { seq: i, file: 'x', offset: i, data: new Uint8Array(1), last: i === 49 }; }
    },
  };
  const slow: Sink<Unit, number> = {
    name: 'slow', description: 'slow', async consume(src) {
      for await (const _ of src) { consumed++; await new Promise((r) => setImmediate(r)); }
      return consumed;
    },
  };
  const { result } = await runChain(chain(source, passThrough<Unit>('p'), slow), opts);
  assert.equal(result, 50);
  assert.ok(maxAhead <= 2, `the source ran ${maxAhead} items ahead of the sink`);
});

test('filter-docs: drops short documents and by regex, counts them; keeps the rest byte-identical', async () => {
  const text = [`tiny${SEP}`, `a long enough document${SEP}`, `spam spam spam${SEP}`, 'the last document, without a separator'];
  const c = chain(units(text.join('')), filterDocs({ separator: SEP, minDocBytes: 10, dropRegex: '^spam' }), collect);
  const { result, stages } = await runChain(c, opts);
  assert.deepEqual(result, [`a long enough document${SEP}the last document, without a separator`]);
  assert.equal(stages['filter-docs'].dropped_short, 1);
  assert.equal(stages['filter-docs'].dropped_matching, 1);
  assert.equal(stages['filter-docs'].documents_in, 4);
  assert.equal(stages['filter-docs'].documents_out, 2);
  const keepOnly = await runChain(chain(units(text.join('')), filterDocs({ separator: SEP, keepRegex: 'document' }), collect), opts);
  assert.deepEqual(keepOnly.result, [`a long enough document${SEP}the last document, without a separator`]);
  const none = await runChain(chain(units(text.join('')), filterDocs({ separator: SEP }), collect), opts);
  assert.deepEqual(none.result, [text.join('')], 'nothing to drop: the unit passes unchanged');
  assert.throws(() => filterDocs({ separator: SEP, keepRegex: '(' }), /--keep-regex "\(" is not a valid regular expression/);
});

test('dedup-docs: drops exact repeats across units (first kept), counts them', async () => {
  const { result, stages } = await runChain(chain(units(`a${SEP}b${SEP}a${SEP}`, `b${SEP}c${SEP}a`), dedupDocs({ separator: SEP, maxMb: 1 }), collect), opts);
  assert.deepEqual(result, [`a${SEP}b${SEP}`, `c${SEP}`]);
  assert.equal(stages['dedup-docs'].dropped_duplicates, 3);
  assert.equal(stages['dedup-docs'].documents_out, 3);
});

test('HashSet64: exact membership, and a full table stops remembering instead of growing', () => {
  const s = new HashSet64(16 * 1024);
  assert.equal(s.capacity, 1536, "16 kB: 2048 slots of 8 bytes, filled to 3/4");
  const seen = new Set<string>();
  let full = 0;
  for (let i = 0; i < 2000; i++) {
    const hi = Math.imul(i, 2654435761) >>> 0;
    const lo = (i * 7919) >>> 0;
    const v = s.check(hi, lo);
    if (v === 'full') full++;
    else { assert.equal(v, 'added'); seen.add(`${hi},${lo}`); }
  }
  assert.equal(s.size, 1536);
  assert.equal(full, 2000 - 1536);
  assert.equal(s.check(Math.imul(5, 2654435761) >>> 0, (5 * 7919) >>> 0), 'seen');
  assert.equal(s.check(0, 0), 'seen', 'zero is stored as (0, 1): value 0 was added first');
});

test('read → cut → encode and read → cut → count on edge inputs: empty, one byte, a special token cut by every read size, a document longer than a unit', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { resolveInputs } = await import('../src/stages/read-inputs.ts');
  const { encodeFiles } = await import('../src/tokenizer/encode-files.ts');
  const { trainBpe } = await import('../src/tokenizer/bpe-train.ts');
  const { Tokenizer } = await import('../src/tokenizer/tokenizer.ts');
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-stage-edges-'));
  try {
    const text = `${'A long document, longer than any unit here, with words. '.repeat(40)}${SEP}x${SEP}${SEP}`;
    const trained = await trainBpe({ input: enc.encode(text.repeat(3)), vocabSize: 300, specialTokens: [SEP], workers: 0 });
    const tok = Tokenizer.fromVocabMerges(trained.vocab, trained.merges, [SEP]);
    const cases: Array<[string, string]> = [['empty', ''], ['one-byte', 'x'], ['special-only', SEP], ['long', text]];
    for (const [name, body] of cases) {
      const path = join(dir, `${name}.txt`);
      writeFileSync(path, body);
      const files = await resolveInputs([path]);
      const want = Array.from(tok.encodeToIds(body));
      for (const [readBytes, unitBytes] of [[1, 1], [3, 7], [5, 64], [4096, 4096]]) {
        for (const workers of [0, 1]) {
          const got: number[] = [];
          const stages = await encodeFiles(files, tok.encoderSpec(), { workers, readBytes, unitBytes }, (u) => { got.push(...u.ids); });
          assert.deepEqual(got, want, `${name}: read ${readBytes}, unit ${unitBytes}, workers ${workers}`);
          assert.equal(stages.read.bytes, enc.encode(body).length);
        }
      }
      // Counting the same file in tiny units gives the whole-text counts (compared through the merges).
      if (name === 'long') {
        const whole = await trainBpe({ input: enc.encode(body), vocabSize: 290, specialTokens: [SEP], workers: 0 });
        const cut = await trainBpe({ input: path, vocabSize: 290, specialTokens: [SEP], workers: 0, chunkBytes: 64 });
        assert.ok(cut.stats.chunks > 10);
        assert.deepEqual(cut.merges, whole.merges);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('chunk recycling: only the reader\'s chunk sizes are kept, each buffer once, within the bound; a recycled buffer is handed out again', async () => {
  const { chunkBuffer, recycleChunk, CHUNK_HEADROOM } = await import('../src/stages/formats/chunks.ts');
  const size = (300 << 10) + 17; // a size no other test asks for
  const a = chunkBuffer(size);
  assert.equal(a.length, size);
  assert.equal(a.byteOffset, CHUNK_HEADROOM);
  recycleChunk(a.buffer);
  recycleChunk(a.buffer); // a second hand-back of the same memory is ignored
  const b = chunkBuffer(size);
  assert.equal(b.buffer, a.buffer, 'the spare is reused');
  const c = chunkBuffer(size);
  assert.notEqual(c.buffer, a.buffer, 'the memory was handed out once');
  recycleChunk(new ArrayBuffer(CHUNK_HEADROOM + size + 1)); // not a chunk size
  assert.notEqual(chunkBuffer(size + 1).buffer.byteLength, 0);
  const d = chunkBuffer(size);
  assert.equal(d.buffer.byteLength, CHUNK_HEADROOM + size);
  // The bound: handing back far more than 24 MB keeps only the newest.
  const many = Array.from({ length: 120 }, () => chunkBuffer(size));
  for (const m of many) recycleChunk(m.buffer);
  const back = new Set(Array.from({ length: 120 }, () => chunkBuffer(size).buffer));
  const reused = many.filter((m) => back.has(m.buffer)).length;
  assert.ok(reused > 0 && reused <= Math.floor((24 << 20) / (CHUNK_HEADROOM + size)), `kept ${reused}`);
  assert.ok(back.has(many[many.length - 1].buffer) && !back.has(many[0].buffer), 'the oldest spares made room');
});

test('read → cut → encode → write recycles each unit\'s memory into later reads: the token file equals the in-process ids (0, 1, 2 workers)', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { resolveInputs } = await import('../src/stages/read-inputs.ts');
  const { readFiles } = await import('../src/stages/read.ts');
  const { encodeCut } = await import('../src/tokenizer/encode-files.ts');
  const { encodeUnits } = await import('../src/stages/encode-units.ts');
  const { writeTokens } = await import('../src/stages/write-tokens.ts');
  const { TokenFileWriter } = await import('../src/tokenizer/token-file.ts');
  const { TokenFileReader } = await import('../src/tokenizer/token-reader.ts');
  const { trainBpe } = await import('../src/tokenizer/bpe-train.ts');
  const { Tokenizer } = await import('../src/tokenizer/tokenizer.ts');
  const { sotuText } = await import('./helpers/sotu.ts');
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-recycle-'));
  try {
    const text = sotuText({ maxBytes: 3 << 20 });
    const trained = await trainBpe({ input: enc.encode(text.slice(0, 400_000)), vocabSize: 600, specialTokens: ['<|endoftext|>'], workers: 0 });
    const tok = Tokenizer.fromVocabMerges(trained.vocab, trained.merges, ['<|endoftext|>']);
    const second = sotuText({ maxBytes: 1 << 20, skipAddresses: 150 });
    writeFileSync(join(dir, 'a.txt'), text);
    writeFileSync(join(dir, 'b.txt'), second);
    const files = await resolveInputs([join(dir, 'a.txt'), join(dir, 'b.txt')]);
    assert.equal(files.length, 2);
    const want = [...tok.encodeToIds(text), ...tok.encodeToIds(second)];
    const unitBytes = 80 << 10; // ~80 units, each read chunk of a recyclable size
    for (const workers of [0, 1, 2]) {
      const out = join(dir, `w${workers}.bin`);
      const writer = new TokenFileWriter(out, { vocabSize: tok.vocabSize, tokenizerHash: tok.hash(), specialTokens: tok.specialTokens });
      const encode = encodeUnits({ spec: tok.encoderSpec(), workers });
      await encode.start();
      try {
        await runChain(chain(readFiles({ files, chunkBytes: unitBytes }), encodeCut(tok.encoderSpec(), unitBytes), encode, writeTokens(writer)), {
          signal: new AbortController().signal, log: () => {}, warn: () => {},
        });
      } finally {
        await encode.close();
      }
      await writer.close();
      const r = new TokenFileReader(out, { requireSidecar: true });
      try {
        assert.deepEqual(Array.from(r.readAll()), want, `workers ${workers}`);
      } finally {
        r.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
