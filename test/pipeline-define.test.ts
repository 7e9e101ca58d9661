import { test } from 'node:test';
import assert from 'node:assert/strict';
import { definePipeline, flagName } from '../src/pipeline/define.ts';
import { UserError } from '../src/pipeline/errors.ts';

const demo = definePipeline({
  name: 'demo',
  description: 'a test pipeline',
  stages: [{ name: 'read', description: 'reads' }, { name: 'count', description: 'counts' }],
  options: {
    input: { type: 'string', multiple: true, required: true, description: 'inputs', short: 'i' },
    vocabSize: { type: 'int', required: true, min: 257, description: 'size' },
    lr: { type: 'number', default: 3e-4, description: 'learning rate' },
    mode: { type: 'string', choices: ['fast', 'exact'] as const, default: 'fast', description: 'mode' },
    dryRun: { type: 'boolean', description: 'no writes' },
  },
  validate(o) {
    if (o.vocabSize > 1e6) throw new UserError('too big');
  },
  async run(o) {
    return { inputs: o.input.length, vocab: o.vocabSize, lr: o.lr, mode: o.mode, dry: o.dryRun };
  },
});

test('flag names are kebab-case keys', () => {
  assert.equal(flagName('vocabSize'), 'vocab-size');
  assert.equal(flagName('input'), 'input');
});

test('parses typed values, repeats and defaults', () => {
  const o = demo.parse(['-i', 'a.txt', '--input', 'b/*.txt', '--vocab-size', '1_000']);
  assert.notEqual(o, 'help');
  if (o === 'help') return;
  assert.deepEqual(o.input, ['a.txt', 'b/*.txt']);
  assert.equal(o.vocabSize, 1000);
  assert.equal(o.lr, 3e-4);
  assert.equal(o.mode, 'fast');
  assert.equal(o.dryRun, false);
});

test('help lists stages and flags', () => {
  assert.equal(demo.parse(['--help']), 'help');
  const h = demo.help();
  for (const s of ['--vocab-size', '--input', 'repeatable', 'required', 'read', 'count', 'one of: fast, exact']) assert.ok(h.includes(s), s);
});

test('bad input gives one-line UserErrors with the fix', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--vocab-size', '500'], /missing required option --input/],
    [['-i', 'a', '--vocab-sise', '5'], /unknown option --vocab-sise \(did you mean --vocab-size\?\)/],
    [['-i', 'a', '--vocab-size', 'abc'], /expected a number/],
    [['-i', 'a', '--vocab-size', '2.5'], /expected an integer/],
    [['-i', 'a', '--vocab-size', '100'], /must be at least 257/],
    [['-i', 'a', '--vocab-size', '300', '--mode', 'fsat'], /expected one of fast, exact \(did you mean 'fast'\?\)/],
    [['-i', 'a', '--vocab-size', '2000000'], /too big/],
    [['-i', 'a', '--vocab-size', '300', 'stray'], /unexpected argument 'stray'/],
  ];
  for (const [argv, re] of cases) {
    assert.throws(() => demo.parse(argv), (e: unknown) => e instanceof UserError && re.test(e.message) && !e.message.includes('\n'), argv.join(' '));
  }
});

test('run returns the typed result', async () => {
  const o = demo.parse(['-i', 'x', '--vocab-size', '300', '--dry-run', '--quiet']);
  assert.notEqual(o, 'help');
  if (o === 'help') return;
  const r = await demo.run(o);
  assert.deepEqual(r, { inputs: 1, vocab: 300, lr: 3e-4, mode: 'fast', dry: true });
});
