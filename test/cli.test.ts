import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/util/shared-data.ts';
import { node22, runPipeline, summaryOf } from './helpers/cli.ts';
import type { OptionSpecs, Pipeline } from '../src/pipeline/define.ts';

const pipelines = readdirSync(join(REPO_ROOT, 'pipelines')).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3));

/** Every pipeline object, imported in-process (a pipeline file runs its CLI only as the entry script). */
async function loadPipelines(): Promise<Map<string, Pipeline<OptionSpecs, object>>> {
  const out = new Map<string, Pipeline<OptionSpecs, object>>();
  for (const name of pipelines) {
    const mod = await import(join(REPO_ROOT, 'pipelines', `${name}.ts`)) as Record<string, unknown>;
    const p = Object.values(mod).find((v): v is Pipeline<OptionSpecs, object> => typeof v === 'object' && v !== null && 'spec' in v && 'help' in v);
    assert.ok(p, `${name}.ts exports its pipeline`);
    out.set(name, p);
  }
  return out;
}

test('every pipeline has --help naming the launcher of the running Node, its stages and examples whose repo files exist', async () => {
  const all = await loadPipelines();
  assert.deepEqual([...all.keys()].sort(), [...pipelines].sort());
  for (const [name, p] of all) {
    const h = p.help();
    assert.match(h, new RegExp(`usage: npx tsx pipelines/${name}\\.ts`), name);
    for (const s of p.spec.stages) assert.ok(h.includes(s.name), `${name}: stage ${s.name}`);
    for (const example of p.spec.examples ?? []) {
      // Files of the repository that an example names must exist (outputs under out/ and user placeholders aside).
      for (const m of example.matchAll(/(?:^|[\s'"=])((?:runs|sweeps|fixtures|examples|docs|scripts|bench)\/[^\s'"]+)/g)) {
        assert.ok(existsSync(join(REPO_ROOT, m[1])), `${name} --help example names ${m[1]}, which does not exist`);
      }
    }
  }
});

test('one pipeline end to end under tsx: --help, --version, exit codes', () => {
  const h = runPipeline('encode', ['--help']);
  assert.equal(h.status, 0, h.stderr);
  assert.match(h.stdout, /usage: npx tsx pipelines\/encode\.ts/);
  const v = runPipeline('encode', ['--version']);
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stdout, /^lmpipe \d+\.\d+\.\d+ \(encode; node v\d+/);
  const bad = runPipeline('encode', ['--no-such-flag']);
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
});

test('a negative number as a flag value is read as a number, and refused by its range in one line', () => {
  const r = runPipeline('train', ['--train-data', 'x.bin', '--lr', '-1']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim(), 'train: error: invalid value -1 for --lr: must be at least 0');
});

test('every pipeline loads by plain type stripping on Node >= 22.18, and its usage line says plain node', (t) => {
  const node = node22();
  if (!node) { t.skip('Node 22 not installed (.ci/run installs it)'); return; }
  // One process imports every pipeline file and prints each --help (an entry script of its own runs its CLI).
  const files = pipelines.map((n) => join(REPO_ROOT, 'pipelines', `${n}.ts`));
  const script = `for (const f of ${JSON.stringify(files)}) { const m = await import(f); const p = Object.values(m).find((v) => v && typeof v === 'object' && 'help' in v); console.log(p.help().split('\\n')[2]); }`;
  const r = spawnSync(node, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const usages = r.stdout.trim().split('\n');
  assert.deepEqual(usages.map((u) => /usage: node pipelines\/([a-z-]+)\.ts/.exec(u)?.[1]), pipelines);
});

test('split-corpus: documents are routed whole, deterministically, via stdin too', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-split-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
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

test('a failing run exits 2 with one error line and leaves the previous output intact', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-split-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
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
