/**
 * pipelines/encode.ts and pipelines/inspect-tokenizer.ts as a user runs
 * them: files, stdin and stdout, worker counts, the sidecar, and errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TokenFileReader } from '../src/tokenizer/token-reader.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { REPO_ROOT, fixturePath } from '../src/util/shared-data.ts';
import { runPipeline, summaryOf } from './helpers/cli.ts';

const EOT = '<|endoftext|>';
const vocabPath = fixturePath('cs336', 'fixtures', 'text', 'gpt2_vocab.json');
const mergesPath = fixturePath('cs336', 'fixtures', 'text', 'gpt2_merges.txt');
const tinyPath = fixturePath('cs336', 'fixtures', 'text', 'tinystories_sample.txt');
const tmp = mkdtempSync(join(tmpdir(), 'lmpipe-encode-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('encode and inspect-tokenizer pipelines', () => {
  const tokDir = join(tmp, 'gpt2');
  const a = join(tmp, 'a.txt');
  const b = join(tmp, 'b.txt');
  mkdirSync(tokDir);
  copyFileSync(vocabPath, join(tokDir, 'vocab.json'));
  copyFileSync(mergesPath, join(tokDir, 'merges.txt'));
  const tok = Tokenizer.fromDir(tokDir, [EOT]);
  const textA = readFileSync(tinyPath, 'utf8').repeat(40);
  const textB = `Héllò wörld! 日本語 🙃${EOT}\n\nsecond document   with  spaces\n`.repeat(500);
  writeFileSync(a, textA);
  writeFileSync(b, textB);

  it('encodes files into a token file whose ids equal Tokenizer.encode, for 0 and 2 workers', () => {
    const expected = [...tok.encodeToIds(textA), ...tok.encodeToIds(textB)];
    for (const workers of ['0', '2']) {
      const out = join(tmp, `w${workers}`, 'train.bin');
      const r = runPipeline('encode', ['--tokenizer', tokDir, '--special-token', EOT, '--input', a, '--input', b, '--out', out, '--workers', workers, '--quiet']);
      assert.equal(r.status, 0, r.stderr);
      const s = summaryOf(r);
      assert.equal(s.ok, true);
      assert.equal(s.tokens, expected.length);
      assert.equal(s.bytes, Buffer.byteLength(textA) + Buffer.byteLength(textB));
      assert.equal(s.dtype, 'uint16');
      assert.ok(typeof s.bytes_per_token === 'number' && s.bytes_per_token > 2 && s.bytes_per_token < 6);
      assert.equal(s.pile_825gb_estimate, null, 'too little input (< 4 MB) for a Pile estimate');
      const reader = new TokenFileReader(out, { requireSidecar: true });
      assert.deepEqual(Array.from(reader.readAll()), expected);
      assert.equal(reader.meta?.tokenizerHash, tok.hash());
      assert.deepEqual(reader.meta?.specialTokens, { [EOT]: 50256 });
      reader.close();
      assert.deepEqual(readdirSync(join(tmp, `w${workers}`)).sort(), ['train.bin', 'train.bin.json'], 'no temporary file left');
    }
  });

  it('stdin to stdout: raw little-endian uint16 ids, summary on stderr', () => {
    const script = join(REPO_ROOT, 'pipelines', 'encode.ts');
    const r = spawnSync(process.execPath, ['--import', 'tsx', script, '-t', tokDir, '--special-token', EOT, '-i', '-', '-o', '-', '--workers', '1', '--quiet'], { input: textB, maxBuffer: 1 << 28 });
    assert.equal(r.status, 0, r.stderr.toString());
    const expected = tok.encodeToIds(textB);
    const raw = r.stdout;
    assert.equal(raw.length, expected.length * 2);
    const got = Array.from({ length: expected.length }, (_, i) => raw.readUInt16LE(2 * i));
    assert.deepEqual(got, Array.from(expected));
    const summary = JSON.parse(r.stderr.toString().trim().split('\n').pop() as string) as Record<string, unknown>;
    assert.equal(summary.tokens, expected.length);
  });

  it('--workers auto (the default) runs small inputs on the main thread; a bad --workers is one error line', () => {
    const out = join(tmp, 'auto', 'train.bin');
    const r = runPipeline('encode', ['--tokenizer', tokDir, '--special-token', EOT, '--input', a, '--out', out, '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(summaryOf(r).workers, 0, 'a few hundred kB never pays for a thread');
    assert.equal(summaryOf(r).tokens, tok.encodeToIds(textA).length);
    for (const bad of ['x', '-1', '65', '1.5']) {
      const e = runPipeline('encode', ['--tokenizer', tokDir, '--input', a, '--out', out, '--workers', bad]);
      assert.equal(e.status, 2);
      assert.equal(e.stderr.trim(), `encode: error: invalid value '${bad}' for --workers: expected auto or a whole number from 0 to 64`);
    }
  });

  it('a bad tokenizer directory or input is one error line, exit 2, and no output', () => {
    const out = join(tmp, 'bad', 'x.bin');
    const r1 = runPipeline('encode', ['-t', join(tmp, 'nope'), '-i', a, '-o', out]);
    assert.equal(r1.status, 2);
    assert.equal(r1.stderr.trim().split('\n').length, 1, r1.stderr);
    assert.match(r1.stderr, /tokenizer directory .*nope does not exist/);
    const r2 = runPipeline('encode', ['-t', tokDir, '-i', join(tmp, 'missing-*.txt'), '-o', out]);
    assert.equal(r2.status, 2);
    assert.match(r2.stderr, /matches no file/);
    assert.equal(existsSync(out), false);
  });

  it('inspect-tokenizer: vocabulary facts and bytes per token on the sampled documents', () => {
    const r = runPipeline('inspect-tokenizer', ['--tokenizer', tokDir, '--sample', b, '--sample-mb', '100', '--top', '3', '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    const s = summaryOf(r);
    assert.equal(s.vocab_size, 50257);
    assert.equal(s.merges, 50000);
    const longest = s.longest_tokens as Array<{ id: number; bytes: number; text: string }>;
    assert.equal(longest.length, 3);
    assert.equal(longest[0].bytes, 128);
    assert.equal(longest[0].text, tok.decode([longest[0].id]));
    // All documents sampled (the sample is larger than the file): check against encoding each document.
    const docs = textB.split(EOT).filter((d) => d.length > 0);
    const sample = s.sample as { documents: number; bytes: number; tokens: number };
    assert.equal(sample.documents, docs.length);
    assert.equal(sample.bytes, docs.reduce((n, d) => n + Buffer.byteLength(d), 0));
    assert.equal(sample.tokens, docs.reduce((n, d) => n + tok.encode(d).length, 0));
  });
});
