/**
 * The train-bpe CLI pipeline end to end on a small corpus: summary fields,
 * the files it writes, and one-line errors for bad flags.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainBpePipeline } from '../pipelines/train-bpe.ts';
import { readTokenizerDir } from '../src/tokenizer/tokenizer-files.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { fixturePath } from '../src/util/shared-data.ts';

test('train-bpe writes a readable tokenizer and reports the run', async (t) => {
  const input = fixturePath('cs336', 'fixtures', 'text', 'corpus.en');
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-train-bpe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'tok');
  const opts = trainBpePipeline.parse(['--input', input, '--vocab-size', '500', '--out', out, '--quiet']);
  assert.notEqual(opts, 'help');
  if (opts === 'help') return;
  const summary = await trainBpePipeline.run(opts);
  assert.equal(summary.vocab_size, 500);
  assert.equal(summary.merges, 243);
  assert.equal(summary.input_bytes, 133027);
  assert.deepEqual(summary.special_tokens, [{ token: '<|endoftext|>', id: 0 }]);
  assert.deepEqual(readdirSync(out).sort(), ['lmpipe.json', 'merges.txt', 'tokenizer.json', 'vocab.json']);
  const back = readTokenizerDir(out).tables;
  assert.equal(back.offsets.length - 1, 500);
  assert.equal(back.merges.length / 3, 243);
});

test('train-bpe rejects bad flags with one-line UserErrors', () => {
  for (const argv of [
    ['--input', 'x.txt', '--out', 'o', '--workers', 'many'],
    ['--input', 'x.txt', '--out', 'o', '--vocab-size', '100'],
    ['--input', 'x.txt'],
  ]) {
    assert.throws(() => trainBpePipeline.parse(argv), (e) => e instanceof UserError && !e.message.includes('\n'), argv.join(' '));
  }
});
