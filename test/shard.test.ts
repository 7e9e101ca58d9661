/**
 * Sharded runs against one-process runs: N shard processes' parts
 * concatenate to the one-process token file, byte for byte, for N in
 * {1, 2, 3, 7}; count files merged in any order and tree shape equal the
 * whole input's counts byte for byte, and `train-bpe --from-counts` equals
 * training on the text (the CS336 reference merges included); a killed
 * shard is redone alone and leaves nothing under a final name; every
 * engine's variables resolve; bad parts are refused naming the file.
 * Record files are cut between records (JSON Lines at line starts, Parquet
 * at row group starts), compressed ones go whole to one shard.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { countPretokensPipeline } from '../pipelines/count-pretokens.ts';
import { encode } from '../pipelines/encode.ts';
import { mergeCounts } from '../pipelines/merge-counts.ts';
import { mergeTokens } from '../pipelines/merge-tokens.ts';
import { splitCorpus } from '../pipelines/split-corpus.ts';
import { trainBpePipeline } from '../pipelines/train-bpe.ts';
import type { OptionSpecs, Pipeline } from '../src/pipeline/define.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { resolveShard } from '../src/pipeline/shard.ts';
import { sampleBatch } from '../src/train/batch-sampler.ts';
import { ConcatTokenSource, openTokenData } from '../src/train/token-dataset.ts';
import { TokenFileReader } from '../src/tokenizer/token-reader.ts';
import { Rng } from '../src/util/rng.ts';
import { contentDraw } from '../src/stages/documents.ts';
import { fixturePath } from '../src/util/shared-data.ts';
import { runInProcess } from './helpers/in-process.ts';
import { sotuText } from './helpers/sotu.ts';

const EOT = '<|endoftext|>';
const tmp = mkdtempSync(join(tmpdir(), 'lmpipe-shard-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const a = join(tmp, 'a.txt');
const b = join(tmp, 'b.txt');
writeFileSync(a, sotuText({ maxBytes: 700_000, docChars: 3000 }));
writeFileSync(b, sotuText({ maxBytes: 250_000, skipAddresses: 150, docChars: 500 }));
const tok = join(tmp, 'tok');

async function ok<O extends OptionSpecs, R extends object>(p: Pipeline<O, R>, argv: string[]): Promise<Record<string, unknown>> {
  const r = await runInProcess(p, [...argv, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  return r.summary as Record<string, unknown>;
}

function bytesOf(path: string): Buffer {
  return readFileSync(path);
}

describe('encode --shard', () => {
  it('N shards concatenate to the one-process token file, N = 1, 2, 3, 7', async () => {
    await ok(trainBpePipeline, ['-i', a, '--vocab-size', '700', '-o', tok]);
    await ok(encode, ['-t', tok, '-i', a, '-i', b, '-o', join(tmp, 'whole.bin'), '--workers', '0']);
    const whole = bytesOf(join(tmp, 'whole.bin'));
    for (const n of [1, 2, 3, 7]) {
      const dir = join(tmp, `parts${n}`);
      for (let i = 0; i < n; i++) {
        const s = await ok(encode, ['-t', tok, '-i', a, '-i', b, '-o', dir, '--shard', `${i}/${n}`, '--workers', String(i % 2)]);
        assert.deepEqual((s.shard as { index: number }).index, i);
      }
      const parts = readdirSync(dir).filter((f) => f.endsWith('.bin')).sort();
      assert.equal(parts.length, n);
      assert.ok(Buffer.concat(parts.map((f) => bytesOf(join(dir, f)))).equals(whole), `${n} shards`);
      // Each sidecar's shard block counts the part's tokens and the documents that end in it (separator ids).
      const blocks = parts.map((f) => (JSON.parse(readFileSync(join(dir, `${f}.json`), 'utf8')) as { tokens: number; shard: { tokens: number; documents: number } }));
      for (const b of blocks) assert.equal(b.shard.tokens, b.tokens);
      const eot = (JSON.parse(readFileSync(join(tmp, 'whole.bin.json'), 'utf8')) as { specialTokens: Record<string, number> }).specialTokens[EOT];
      const ids = new Uint16Array(whole.buffer, whole.byteOffset, whole.length / 2);
      assert.equal(blocks.reduce((t, b) => t + b.shard.documents, 0), ids.filter((x) => x === eot).length);
      // merge-tokens gives the same file and sidecar; train reads the directory as the same sequence.
      await ok(mergeTokens, [dir, '-o', join(tmp, `merged${n}.bin`)]);
      assert.ok(bytesOf(join(tmp, `merged${n}.bin`)).equals(whole));
      assert.deepEqual(JSON.parse(readFileSync(join(tmp, `merged${n}.bin.json`), 'utf8')), JSON.parse(readFileSync(join(tmp, 'whole.bin.json'), 'utf8')));
    }
  });

  it('record files are cut between records: JSON Lines at a line start, Parquet at a row group start; a .jsonl.gz goes whole to one shard', async () => {
    const docs = readFileSync(a, 'utf8').split(EOT).filter((d) => d.length > 0);
    const jl = join(tmp, 'r.jsonl');
    writeFileSync(jl, docs.map((d, i) => JSON.stringify({ id: i, text: d })).join('\n') + '\n');
    const gz = join(tmp, 'r.jsonl.gz');
    writeFileSync(gz, gzipSync(readFileSync(jl)));
    const pq = join(tmp, 'r.parquet');
    writeFileSync(pq, new Uint8Array(parquetWriteBuffer({ columnData: [{ name: 'text', data: docs, type: 'STRING' }], codec: 'SNAPPY', rowGroupSize: 7 })));
    const inputs = ['-i', jl, '-i', pq, '-i', gz];
    await ok(encode, ['-t', tok, ...inputs, '-o', join(tmp, 'records.bin'), '--workers', '0']);
    const whole = bytesOf(join(tmp, 'records.bin'));
    for (const n of [2, 3, 7]) {
      const dir = join(tmp, `records${n}`);
      const cutInside = new Set<string>();
      for (let i = 0; i < n; i++) {
        const s = await ok(encode, ['-t', tok, ...inputs, '-o', dir, '--shard', `${i}/${n}`, '--workers', String(i % 2)]);
        for (const r of (s.shard as { inputs: { file: string; start: number; end: number }[] }).inputs) {
          if (r.start > 0) cutInside.add(r.file);
          if (r.file === gz) assert.equal(r.start, 0, 'a compressed file is never cut');
        }
      }
      if (n === 7) assert.deepEqual([...cutInside].sort(), [jl, pq].sort(), 'shard boundaries fell inside the .jsonl and the .parquet');
      const parts = readdirSync(dir).filter((f) => f.endsWith('.bin')).sort();
      assert.ok(Buffer.concat(parts.map((f) => bytesOf(join(dir, f)))).equals(whole), `${n} shards of record files`);
    }
  });

  it('training data from a directory of parts: the same batches as from the merged file, and every part sampled', () => {
    const parts = openTokenData(join(tmp, 'parts7'), 'train_data');
    assert.ok(parts instanceof ConcatTokenSource);
    const merged = new TokenFileReader(join(tmp, 'whole.bin'));
    assert.equal(parts.length, merged.length);
    const r1 = new Rng(5);
    const r2 = new Rng(5);
    const files = readdirSync(join(tmp, 'parts7')).filter((f) => f.endsWith('.bin')).sort().map((f) => new TokenFileReader(join(tmp, 'parts7', f)).length);
    const bounds = files.map((_, i) => files.slice(0, i + 1).reduce((x, y) => x + y, 0));
    const hit = new Set<number>();
    for (let k = 0; k < 200; k++) {
      const x = sampleBatch(parts, r1, 4, 32);
      const y = sampleBatch(merged, r2, 4, 32);
      assert.deepEqual(x.x, y.x);
      assert.deepEqual(x.y, y.y);
      for (const s of x.starts) hit.add(bounds.findIndex((e) => s < e));
    }
    assert.equal(hit.size, 7, 'every part is drawn from');
    parts.close();
    merged.close();
  });

  it('a rerun skips complete parts; a killed shard leaves nothing under a final name and is redone alone', async () => {
    const dir = join(tmp, 'parts2');
    const again = await ok(encode, ['-t', tok, '-i', a, '-i', b, '-o', dir, '--shard', '1/2']);
    assert.equal(again.skipped, true);
    // A slow shard (a large input, one thread) killed with SIGKILL mid-run.
    const big = join(tmp, 'big.txt');
    writeFileSync(big, readFileSync(a, 'utf8').repeat(30));
    const kdir = join(tmp, 'killed');
    await ok(encode, ['-t', tok, '-i', big, '-o', kdir, '--shard', '0/2', '--workers', '0']);
    const child = spawn(process.execPath, ['--import', 'tsx', 'pipelines/encode.ts', '-t', tok, '-i', big, '-o', kdir, '--shard', '1/2', '--workers', '0', '--quiet'], { stdio: 'ignore' });
    // Kill it once its temporary output exists.
    for (let i = 0; i < 300 && !readdirSync(kdir).some((f) => f.includes('part-00001') && f.includes('.tmp-')); i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.ok(!existsSync(join(kdir, 'part-00001-of-00002.bin')) && !existsSync(join(kdir, 'part-00001-of-00002.bin.json')), 'no partial part under a final name');
    const r0 = await ok(encode, ['-t', tok, '-i', big, '-o', kdir, '--shard', '0/2', '--workers', '0']);
    assert.equal(r0.skipped, true);
    const r1 = await ok(encode, ['-t', tok, '-i', big, '-o', kdir, '--shard', '1/2', '--workers', '1']);
    assert.equal(r1.skipped, undefined);
    await ok(encode, ['-t', tok, '-i', big, '-o', join(tmp, 'big.bin'), '--workers', '1']);
    assert.ok(Buffer.concat(['part-00000-of-00002.bin', 'part-00001-of-00002.bin'].map((f) => bytesOf(join(kdir, f)))).equals(bytesOf(join(tmp, 'big.bin'))));
  });

  it('bad parts are refused, naming the file', async () => {
    const dir = join(tmp, 'bad');
    mkdirSync(dir);
    for (const f of ['part-00000-of-00003.bin', 'part-00002-of-00003.bin']) {
      copyFileSync(join(tmp, 'parts3', f), join(dir, f));
      copyFileSync(join(tmp, 'parts3', `${f}.json`), join(dir, `${f}.json`));
    }
    assert.throws(() => openTokenData(dir, 'train_data'), (e: unknown) => e instanceof UserError && /part\(s\) 1 of 3 are missing/.test(e.message));
    copyFileSync(join(tmp, 'parts3', 'part-00001-of-00003.bin'), join(dir, 'part-00001-of-00003.bin'));
    const side = JSON.parse(readFileSync(join(tmp, 'parts3', 'part-00001-of-00003.bin.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'part-00001-of-00003.bin.json'), JSON.stringify({ ...side, tokenizerHash: `sha256:${'0'.repeat(64)}` }));
    assert.throws(() => openTokenData(dir, 'train_data'), (e: unknown) => e instanceof UserError && /part-00001-of-00003\.bin was encoded with another tokenizer/.test(e.message));
    const r = await runInProcess(mergeTokens, [dir, '-o', join(tmp, 'bad.bin'), '--quiet']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /another tokenizer/);
    assert.ok(!existsSync(join(tmp, 'bad.bin')));
  });
});

describe('count-pretokens --shard, merge-counts, train-bpe --from-counts', () => {
  it('merged shard counts equal the whole input\'s, in any order and tree shape; --from-counts equals training on the text', async () => {
    await ok(countPretokensPipeline, ['-i', a, '-i', b, '-o', join(tmp, 'whole.counts')]);
    const whole = bytesOf(join(tmp, 'whole.counts'));
    for (const n of [1, 2, 3, 7]) {
      const dir = join(tmp, `counts${n}`);
      for (let i = 0; i < n; i++) await ok(countPretokensPipeline, ['-i', a, '-i', b, '-o', dir, '--shard', `${i}/${n}`, '--workers', '0']);
      const parts = readdirSync(dir).sort().map((f) => join(dir, f));
      await ok(mergeCounts, [...parts.slice().reverse(), '-o', join(tmp, `total${n}.counts`)]);
      assert.ok(bytesOf(join(tmp, `total${n}.counts`)).equals(whole), `${n} shards, reversed order`);
      if (n >= 3) {
        // A tree: (0 + 2) then (1 + ...) and the rest.
        await ok(mergeCounts, [parts[0], parts[2], '-o', join(tmp, `t${n}a.counts`), '--partial']);
        await ok(mergeCounts, [join(tmp, `t${n}a.counts`), ...parts.filter((_, i) => i !== 0 && i !== 2), '-o', join(tmp, `t${n}b.counts`)]);
        assert.ok(bytesOf(join(tmp, `t${n}b.counts`)).equals(whole), `${n} shards, as a tree`);
        const missing = await runInProcess(mergeCounts, [parts[0], parts[1], '-o', join(tmp, 'x.counts'), '--quiet']);
        assert.equal(missing.status, 2);
        assert.match(missing.stderr, /part\(s\) 2.* of \d+ are missing/);
        const twice = await runInProcess(mergeCounts, [join(tmp, `t${n}a.counts`), parts[0], '-o', join(tmp, 'x.counts'), '--quiet', '--partial']);
        assert.match(twice.stderr, /both hold part 0/);
      }
    }
    // Units cut at other places (other unit sizes in the whole run and in the shards) change nothing either.
    await ok(countPretokensPipeline, ['-i', a, '-i', b, '-o', join(tmp, 'whole-small-units.counts'), '--chunk-mb', '0.03']);
    assert.ok(bytesOf(join(tmp, 'whole-small-units.counts')).equals(whole), 'unit size');
    const sdir = join(tmp, 'counts-small-units');
    for (let i = 0; i < 3; i++) await ok(countPretokensPipeline, ['-i', a, '-i', b, '-o', sdir, '--shard', `${i}/3`, '--chunk-mb', '0.05']);
    await ok(mergeCounts, [join(sdir, '*.counts'), '-o', join(tmp, 'total-small-units.counts')]);
    assert.ok(bytesOf(join(tmp, 'total-small-units.counts')).equals(whole), '3 shards in small units');
    await ok(trainBpePipeline, ['-i', a, '-i', b, '--vocab-size', '900', '-o', join(tmp, 'tok-text')]);
    await ok(trainBpePipeline, ['--from-counts', join(tmp, 'total7.counts'), '--vocab-size', '900', '-o', join(tmp, 'tok-counts')]);
    for (const f of ['merges.txt', 'vocab.json']) assert.ok(bytesOf(join(tmp, 'tok-text', f)).equals(bytesOf(join(tmp, 'tok-counts', f))), f);
  });

  it('the CS336 reference merges from sharded counts', async () => {
    const input = fixturePath('cs336', 'fixtures', 'text', 'corpus.en');
    const dir = join(tmp, 'cs336-counts');
    for (let i = 0; i < 3; i++) await ok(countPretokensPipeline, ['-i', input, '-o', dir, '--shard', `${i}/3`]);
    await ok(mergeCounts, [join(dir, '*.counts'), '-o', join(tmp, 'cs336.counts')]);
    await ok(trainBpePipeline, ['--from-counts', join(tmp, 'cs336.counts'), '--vocab-size', '500', '-o', join(tmp, 'cs336-tok')]);
    const ref = readFileSync(fixturePath('cs336', 'fixtures', 'text', 'train-bpe-reference-merges.txt'), 'utf8').split('\n').filter((l) => l.length > 0);
    const got = readFileSync(join(tmp, 'cs336-tok', 'merges.txt'), 'utf8').split('\n').filter((l) => l.length > 0 && !l.startsWith('#'));
    assert.deepEqual(got, ref);
  });

  it('a count file from another pattern or special tokens is refused, naming the file', async () => {
    const path = join(tmp, 'whole.counts');
    const buf = bytesOf(path);
    const h = buf.readUInt32LE(8);
    const header = JSON.parse(buf.subarray(12, 12 + h).toString()) as Record<string, unknown>;
    const patched = (o: Record<string, unknown>): Buffer => {
      const json = Buffer.from(JSON.stringify({ ...header, ...o }));
      const len = Buffer.alloc(4);
      len.writeUInt32LE(json.length);
      return Buffer.concat([buf.subarray(0, 8), len, json, buf.subarray(12 + h)]);
    };
    writeFileSync(join(tmp, 'other-pattern.counts'), patched({ pattern: '\\S+' }));
    writeFileSync(join(tmp, 'other-specials.counts'), patched({ specialTokens: ['<pad>'] }));
    for (const [f, re] of [['other-pattern.counts', /other-pattern\.counts was counted with another pretokenization pattern/], ['other-specials.counts', /other-specials\.counts has special tokens/]] as const) {
      const r = await runInProcess(mergeCounts, [path, join(tmp, f), '-o', join(tmp, 'y.counts'), '--quiet']);
      assert.equal(r.status, 2);
      assert.match(r.stderr, re);
    }
    writeFileSync(join(tmp, 'truncated.counts'), buf.subarray(0, buf.length - 5));
    const r = await runInProcess(trainBpePipeline, ['--from-counts', join(tmp, 'truncated.counts'), '--vocab-size', '300', '-o', join(tmp, 'tok-trunc'), '--quiet']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /truncated\.counts: truncated/);
  });
});

describe('split-corpus --shard (--draw-by content)', () => {
  it('N shards\' parts concatenate to the one-process split plus a final separator, and each document is on the side its bytes draw, N = 1, 2, 3, 7', async () => {
    const c = join(tmp, 'c.jsonl');
    writeFileSync(c, sotuText({ maxBytes: 120_000, skipAddresses: 200, docChars: 400 }).split(`\n${EOT}\n`).filter((d) => d !== '').map((d) => JSON.stringify({ text: d })).join('\n') + '\n');
    const inputs = ['-i', a, '-i', b, '-i', c];
    const one = join(tmp, 'split-one');
    await ok(splitCorpus, [...inputs, '--draw-by', 'content', '--val-fraction', '0.2', '--seed', '7', '--out-dir', one]);
    // The oracle: every non-empty document of the inputs in order, on the side contentDraw gives its bytes.
    const docs = [
      ...readFileSync(a, 'utf8').split(EOT), ...readFileSync(b, 'utf8').split(EOT),
      ...readFileSync(c, 'utf8').split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { text: string }).text),
    ].filter((d) => d !== '');
    const want = { train: [] as string[], valid: [] as string[] };
    for (const d of docs) want[contentDraw(7, Buffer.from(d)) < 0.2 ? 'valid' : 'train'].push(d);
    assert.ok(want.train.length > 50 && want.valid.length > 10);
    assert.equal(readFileSync(join(one, 'train.txt'), 'utf8'), want.train.join(EOT));
    assert.equal(readFileSync(join(one, 'valid.txt'), 'utf8'), want.valid.join(EOT));
    for (const n of [1, 2, 3, 7]) {
      const dir = join(tmp, `split${n}`);
      let documents = 0;
      for (let i = 0; i < n; i++) {
        const s = await ok(splitCorpus, [...inputs, '--draw-by', 'content', '--val-fraction', '0.2', '--seed', '7', '--shard', `${i}/${n}`, '--out-dir', dir]);
        documents += s.documents as number;
        assert.ok(existsSync(join(dir, `part-${String(i).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.json`)), 'the marker');
      }
      assert.equal(documents, docs.length, `${n} shards: every document once`);
      for (const side of ['train', 'valid'] as const) {
        const parts = readdirSync(join(dir, side)).sort();
        assert.equal(parts.length, n);
        const joined = Buffer.concat(parts.map((f) => readFileSync(join(dir, side, f)))).toString('utf8');
        assert.equal(joined, want[side].length === 0 ? '' : `${want[side].join(EOT)}${EOT}`, `${n} shards, ${side}`);
      }
    }
  });

  it('a rerun skips a complete part and redoes one whose options changed; --shard without --draw-by content is refused', async () => {
    const dir = join(tmp, 'split-rerun');
    const args = ['-i', a, '-i', b, '--draw-by', 'content', '--shard', '1/2', '--out-dir', dir];
    const first = await ok(splitCorpus, args);
    assert.equal(first.skipped, undefined);
    const again = await ok(splitCorpus, args);
    assert.equal(again.skipped, true);
    assert.deepEqual(again.train, first.train);
    const reseeded = await ok(splitCorpus, [...args, '--seed', '3']);
    assert.equal(reseeded.skipped, undefined);
    const r = await runInProcess(splitCorpus, ['-i', a, '--shard', '0/2', '--out-dir', join(tmp, 'split-refused'), '--quiet']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--shard needs --draw-by content/);
    assert.ok(!existsSync(join(tmp, 'split-refused', 'train')));
  });
});

describe('--shard auto', () => {
  it('resolves each engine\'s variables, and refuses an index without a count', () => {
    const cases: Array<[Record<string, string>, number | undefined, [number, number]]> = [
      [{ LMPIPE_SHARD: '2/5' }, undefined, [2, 5]],
      [{ SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4' }, undefined, [3, 4]],
      [{ SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '8' }, undefined, [4, 8]],
      [{ BATCH_TASK_INDEX: '0', BATCH_TASK_COUNT: '2' }, undefined, [0, 2]],
      [{ JOB_COMPLETION_INDEX: '6' }, 7, [6, 7]],
      [{ AWS_BATCH_JOB_ARRAY_INDEX: '1' }, 3, [1, 3]],
      [{ PARALLEL_SEQ: '1' }, 3, [0, 3]],
      [{ PARALLEL_SEQ: '3' }, 3, [2, 3]],
    ];
    for (const [env, count, [i, n]] of cases) {
      const s = resolveShard('auto', count, env);
      assert.deepEqual([s?.index, s?.count], [i, n], JSON.stringify(env));
    }
    assert.deepEqual(resolveShard('3/16', undefined, {}), { index: 3, count: 16, source: 'flag' });
    assert.equal(resolveShard(undefined, undefined, {}), null);
    const bad: Array<[string | undefined, number | undefined, Record<string, string>, RegExp]> = [
      ['auto', undefined, { JOB_COMPLETION_INDEX: '2' }, /no shard count: pass --shard-count N/],
      ['auto', undefined, { PARALLEL_SEQ: '0' }, /numbers tasks from 1/],
      ['auto', 2, { PARALLEL_SEQ: '3' }, /shard index 2 is not below the shard count 2/],
      ['auto', undefined, {}, /no shard index in the environment/],
      ['auto', 4, { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '3' }, /SLURM_ARRAY_TASK_COUNT=3 but --shard-count says 4/],
      ['5/4', undefined, {}, /not below the shard count 4/],
      ['1-4', undefined, {}, /expected I\/N/],
      [undefined, 3, {}, /--shard-count is given without --shard/],
    ];
    for (const [spec, count, env, re] of bad) assert.throws(() => resolveShard(spec, count, env), (e: unknown) => e instanceof UserError && re.test(e.message), `${spec} ${JSON.stringify(env)}`);
  });
});
