/**
 * Streaming and parallel encoding: `encodeIterable` is lazy and holds only
 * a bounded tail; the ids never depend on how the input is split into
 * pieces, read chunks or worker units, nor on the number of workers.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { encodeFiles } from '../src/tokenizer/encode-files.ts';
import { trainBpe } from '../src/tokenizer/bpe-train.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { resolveInputs } from '../src/stages/read-inputs.ts';
import { Rng } from '../src/util/rng.ts';
import { fixturePath } from '../src/util/shared-data.ts';
import { sotuText } from './helpers/sotu.ts';

const EOT = '<|endoftext|>';
const vocabPath = fixturePath('cs336', 'fixtures', 'text', 'gpt2_vocab.json');
const mergesPath = fixturePath('cs336', 'fixtures', 'text', 'gpt2_merges.txt');
const tmp = mkdtempSync(join(tmpdir(), 'lmpipe-stream-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Text that exercises every kind of cut: specials (overlapping, with a space), whitespace runs, CJK without spaces, emoji. */
function mixedText(rng: Rng, pieces: number): string {
  const parts = ['Once upon a time', ' there', ' was', ' a', ' cat.', '\n', '\n\n', '   ', '\t', EOT, `${EOT}${EOT}`, '<|endof', 'text|>',
    '日本語のテキストには空白がありません', '这是一个没有空格的很长的句子', '🙃🙃', ' 12345', "it's", ' naïve', '\u3000', '!!!', '\r\n',
    '<sp', ' ace>', '<sp ace>'];
  let s = '';
  for (let i = 0; i < pieces; i++) s += parts[rng.intBelow(parts.length)];
  return s;
}

/** Splits a string at random UTF-16 positions (surrogate pairs may be split). */
function splitString(s: string, rng: Rng, maxLen: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length;) {
    const n = 1 + rng.intBelow(maxLen);
    out.push(s.slice(i, i + n));
    i += n;
  }
  return out;
}

/** Splits bytes at random positions (multi-byte characters may be split). */
function splitBytes(b: Uint8Array, rng: Rng, maxLen: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < b.length;) {
    const n = 1 + rng.intBelow(maxLen);
    out.push(b.subarray(i, i + n));
    i += n;
  }
  return out;
}

describe('streaming and parallel encoding', () => {
  const tok = Tokenizer.fromFiles(vocabPath, mergesPath, [EOT, `${EOT}${EOT}`, '<sp ace>']);

  it('ids do not depend on how the input is split into pieces (strings and bytes)', () => {
    const rng = new Rng(3);
    for (let k = 0; k < 60; k++) {
      const text = mixedText(rng, 5 + rng.intBelow(300));
      const expected = Array.from(tok.encodeToIds(text));
      const minBatch = [1, 7, 64, 4096][k % 4];
      assert.deepEqual([...tok.encodeIterable(splitString(text, rng, 1 + rng.intBelow(40)), minBatch)], expected, `strings, case ${k}`);
      const bytes = new TextEncoder().encode(text);
      assert.deepEqual([...tok.encodeIterable(splitBytes(bytes, rng, 1 + rng.intBelow(40)), minBatch)], expected, `bytes, case ${k}`);
    }
    // A special token split across pieces is still one token; so is a surrogate pair.
    assert.deepEqual([...tok.encodeIterable(['a<|endof', 'text|>b'], 1)], tok.encode(`a${EOT}b`));
    assert.deepEqual([...tok.encodeIterable(['x\ud83d', '\ude43y'], 1)], tok.encode('x🙃y'));
    assert.deepEqual([...tok.encodeIterable(['x\ud83d'], 1)], tok.encode('x\ufffd'));
  });

  it('encodeIterable accepts a Readable', async () => {
    const text = mixedText(new Rng(5), 2000);
    const got: number[] = [];
    for await (const id of tok.encodeIterable(Readable.from(splitBytes(Buffer.from(text), new Rng(6), 100)))) got.push(id);
    assert.deepEqual(got, tok.encode(text));
  });

  it('is lazy: the first ids come out long before the input is exhausted', () => {
    let pulled = 0;
    const total = 2000;
    function* lines(): Generator<string> {
      for (let i = 0; i < total; i++) {
        pulled++;
        yield `Line ${i}: the quick brown fox jumps over the lazy dog.\n`;
      }
    }
    const it = tok.encodeIterable(lines());
    const first = it.next();
    assert.equal(first.done, false);
    assert.ok(pulled < total / 4, `first id after ${pulled} of ${total} lines`);
    let n = 1;
    while (!it.next().done) n++;
    assert.equal(pulled, total);
    assert.ok(n > total * 10);
  });

  it('bounded heap while streaming 24 MB (child process with --expose-gc)', () => {
    const child = fileURLToPath(new URL('./tokenizer-heap-child.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', child, vocabPath, mergesPath, '24'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const { samples, tokens } = JSON.parse(r.stdout) as { samples: number[]; tokens: number };
    assert.ok(tokens > 3_000_000, `tokens ${tokens}`);
    assert.ok(samples.length >= 5);
    // Loose bound: the input is 24 MB; the held tail is a few KB. Allow for GC noise.
    const max = Math.max(...samples);
    assert.ok(max < 8e6, `heap grew by ${(max / 1e6).toFixed(1)} MB while streaming: ${samples.map((x) => (x / 1e6).toFixed(1)).join(' ')}`);
  });

  it('worker pool: identical ids for 0, 1 and 2 workers and any read-chunk size, files encoded separately', async () => {
    const rng = new Rng(9);
    const a = join(tmp, 'a.txt');
    const b = join(tmp, 'b.txt');
    const textA = sotuText({ maxBytes: 400_000 }) + mixedText(rng, 20_000);
    const textB = mixedText(rng, 5_000);
    writeFileSync(a, textA);
    writeFileSync(b, textB);
    const expected = [...tok.encodeToIds(textA), ...tok.encodeToIds(textB)];
    const files = await resolveInputs([a, b]);
    for (const [workers, readBytes, unitBytes] of [[0, 1 << 20, 1 << 20], [0, 997, 1000], [1, 64 << 10, 4096], [2, 4096, 4096], [2, 1 << 20, 1 << 20], [2, 333, 1 << 16]]) {
      const got: number[] = [];
      let bytes = 0;
      const units: Array<{ file: string; offset: number }> = [];
      await encodeFiles(files, tok.encoderSpec(), { workers, readBytes, unitBytes }, (u) => {
        assert.ok(u.ids instanceof Uint16Array);
        for (const id of u.ids) got.push(id);
        bytes += u.bytes;
        units.push({ file: u.file, offset: u.offset });
      });
      const what = `workers ${workers}, read ${readBytes}, unit ${unitBytes}`;
      assert.equal(bytes, Buffer.byteLength(textA) + Buffer.byteLength(textB));
      assert.equal(got.length, expected.length, what);
      assert.deepEqual(got, expected, what);
      if (unitBytes < 5000) assert.ok(units.length > 50, `small units give many (${units.length})`);
      assert.equal(units.find((u) => u.file === b)?.offset, 0, 'the second file starts its own units');
    }
  });
});

describe('chunked encoding with special tokens inside longer ones (a small trained vocabulary)', () => {
  // A complete "|" or "end" can sit inside a "<|endoftext|>" still cut off at a
  // buffer end; a cut there would split that special token.
  const specials = ['<|endoftext|>', '<|endoftext|><|endoftext|>', 'end', '|', '<s>', 'a<s>b'];
  const text = [
    "Once upon a time<|endoftext|>there was a cat 🙃🙃. It's here; we'll see, they've gone.<|endoftext|><|endoftext|>",
    '中文字。日本語、テキスト<|endoftext|>한국어🙃x<|endof<|endoftext|>naïve café\u3000ok  \n\n  end|a<s>b a<s><s>',
    "<|endoftext|>'ll's'S 12345 \t\r\n<|endoftext|>|<|endoftext|>weekend<|end|>",
  ].join('').repeat(4);
  const bytes = new TextEncoder().encode(text);

  it('streamed and worker-pool ids equal whole-text ids for any piece and read-chunk size', async () => {
    const trained = await trainBpe({ input: bytes, vocabSize: 256 + specials.length + 120, specialTokens: specials, workers: 0 });
    const tok = Tokenizer.fromVocabMerges(trained.vocab, trained.merges, specials);
    const expected = Array.from(tok.encodeToIds(text));
    assert.ok(expected.length < bytes.length * 0.8, 'the merges shorten the text');
    const rng = new Rng(21);
    for (let maxLen = 1; maxLen <= 24; maxLen++) {
      assert.deepEqual([...tok.encodeIterable(splitBytes(bytes, rng, maxLen), 1)], expected, `pieces of up to ${maxLen} bytes`);
    }
    const path = join(tmp, 'nested.txt');
    writeFileSync(path, text);
    const files = await resolveInputs([path]);
    for (const chunk of [1, 2, 3, 5, 8, 13, 21, 34]) {
      for (const unitBytes of [1, 7, 40]) {
        const got: number[] = [];
        await encodeFiles(files, tok.encoderSpec(), { workers: 0, readBytes: chunk, unitBytes }, (u) => { got.push(...u.ids); });
        assert.deepEqual(got, expected, `read chunks of ${chunk} bytes, units of ${unitBytes}`);
      }
    }
  });
});
