import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/util/shared-data.ts';
import { node22, runPipeline, summaryOf } from './helpers/cli.ts';

const pipelines = readdirSync(join(REPO_ROOT, 'pipelines')).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3));

test('every pipeline answers --help under tsx (Node 20)', () => {
  for (const name of pipelines) {
    const r = runPipeline(name, ['--help']);
    assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    assert.match(r.stdout, /usage: node pipelines\//, name);
  }
});

test('every pipeline runs by plain type stripping on Node >= 22.18', (t) => {
  const node = node22();
  if (!node) { t.skip('Node 22 not installed (.ci/run installs it)'); return; }
  for (const name of pipelines) {
    const r = runPipeline(name, ['--help'], { node });
    assert.equal(r.status, 0, `${name} under ${node}: ${r.stderr}`);
    assert.match(r.stdout, /usage: node pipelines\//, name);
  }
});

test('split-corpus: documents are routed whole, deterministically, via stdin too', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-split-'));
  const docs = Array.from({ length: 200 }, (_, i) => `Document ${i}: ${'word '.repeat(i % 17)}end.`);
  const text = docs.join('<|endoftext|>');
  writeFileSync(join(dir, 'in.txt'), text);
  const a = runPipeline('split-corpus', ['--input', join(dir, 'in.txt'), '--out-dir', join(dir, 'a'), '--val-fraction', '0.25', '--chunk-mb', '0.0002']);
  assert.equal(a.status, 0, a.stderr);
  const b = runPipeline('split-corpus', ['--input', '-', '--out-dir', join(dir, 'b'), '--val-fraction', '0.25'], { input: text });
  assert.equal(b.status, 0, b.stderr);
  const read = (d: string, f: string): string[] => readFileSync(join(dir, d, f), 'utf8').split('<|endoftext|>').filter((s) => s.length > 0);
  const trainA = read('a', 'train.txt');
  const validA = read('a', 'valid.txt');
  assert.deepEqual([...trainA, ...validA].sort(), [...docs].sort());
  assert.ok(validA.length > 20 && validA.length < 80, `valid ${validA.length}`);
  assert.deepEqual(read('b', 'train.txt'), trainA);
  assert.deepEqual(read('b', 'valid.txt'), validA);
  const s = summaryOf(a);
  assert.equal(s.ok, true);
  assert.equal(s.documents, 200);
});

test('a failing run exits 2 with one error line and leaves the previous output intact', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-split-'));
  writeFileSync(join(dir, 'in.txt'), 'a<|endoftext|>b');
  const ok = runPipeline('split-corpus', ['--input', join(dir, 'in.txt'), '--out-dir', join(dir, 'o')]);
  assert.equal(ok.status, 0, ok.stderr);
  const before = readFileSync(join(dir, 'o', 'train.txt'));
  const bad = runPipeline('split-corpus', ['--input', join(dir, 'in.txt'), '--input', join(dir, 'nope-*.txt'), '--out-dir', join(dir, 'o')]);
  assert.equal(bad.status, 2);
  assert.equal(bad.stdout, '');
  const lines = bad.stderr.trim().split('\n');
  assert.equal(lines.length, 1, bad.stderr);
  assert.match(lines[0], /nope-\*\.txt' matches no file/);
  assert.deepEqual(readFileSync(join(dir, 'o', 'train.txt')), before);
  assert.deepEqual(readdirSync(join(dir, 'o')).sort(), ['train.txt', 'valid.txt']);
});
