/**
 * `pipelines/accounting.ts` as a user runs it: the JSON summary on stdout,
 * the table on stderr, and one-line errors with exit code 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPipeline, summaryOf } from './helpers/cli.ts';

test('--json prints one JSON line and no table; the numbers follow the flags', () => {
  const r = runPipeline('accounting', ['--model', 'gpt2-xl', '--context', '16384', '--d-ff', '4288', '--dtype', 'bf16', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Parameters|Forward matmul/); // no table; only the warning below
  assert.equal(r.stdout.trim().split('\n').length, 1);
  const s = summaryOf(r) as { ok: boolean; parameters: { total: number; bytes: number }; forward: { flops_per_sequence: number }; memory: { max_batch: number; bytes_per_value: number }; warnings?: string[] };
  assert.equal(s.ok, true);
  // published answer for the d_ff 4,288 revision: 1,640,452,800 parameters; 133,577,729,638,400 FLOPs at 16,384 tokens
  assert.equal(s.parameters.total, 1_640_452_800);
  assert.equal(s.parameters.bytes, 2 * 1_640_452_800);
  assert.equal(s.forward.flops_per_sequence, 133_577_729_638_400);
  assert.equal(s.memory.bytes_per_value, 2);
  // the default 80 GB budget fits no 16k-token sequence: reported, not an error
  assert.equal(s.memory.max_batch, 0);
  assert.equal(s.warnings?.length, 1);
  assert.match(r.stderr, /warning: no batch fits in 80 GB/);
});

test('without --json the table goes to stderr; a training config\'s "model" key is read', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-acct-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'train.json');
  writeFileSync(path, JSON.stringify({ steps: 10, model: { vocab_size: 1000, context_length: 64, d_model: 32, num_layers: 2, num_heads: 4, ffn: 'gelu', tie_embeddings: true } }));
  const r = runPipeline('accounting', ['--config', path, '--memory-gb', '1']);
  assert.equal(r.status, 0, r.stderr);
  // gelu default d_ff 4·32 = 128; params: 1000·32 + 2·(4·32² + 2·32·128 + 2·32) + 32 = 32,000 + 2·(4,096 + 8,192 + 64) + 32 = 56,736
  assert.equal((summaryOf(r) as { parameters: { total: number } }).parameters.total, 56_736);
  assert.match(r.stderr, /^\s+total\s+56,736\s/m);
  assert.match(r.stderr, /lm_head\s+\(64×32\)·\(32×1000\)/);
  assert.match(r.stderr, /largest batch in 1 GB: \d+/);
});

test('bad input: exit 2, empty stdout, one line naming the fix', () => {
  const cases: [string[], RegExp][] = [
    [['--model', 'gpt2-xxl'], /unknown model preset 'gpt2-xxl' \(did you mean 'gpt2-xl'\?\)/],
    [['--model', 'gpt2-xl', '--memory-gb', '20'], /--memory-gb 20: no batch fits/],
    [['--model', 'gpt2-xl', '--contxt', '10'], /unknown option --contxt \(did you mean --context\?\)/],
  ];
  for (const [args, pattern] of cases) {
    const r = runPipeline('accounting', args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], pattern);
  }
});
