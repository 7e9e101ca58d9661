/** The example pipeline in examples/ (written only from exported stages) runs and counts right. */
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docStatsPipeline } from '../examples/doc-stats.ts';
import { REPO_ROOT } from '../src/util/shared-data.ts';
import { sotuFiles } from './helpers/sotu.ts';

const SEP = '<|endoftext|>';

test('examples/doc-stats: per-file documents and bytes equal a direct count, with and without the stock stages', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-example-'));
  try {
    // Real text: State of the Union addresses, split into paragraphs, with repeats and short pieces mixed in.
    const paragraphs = sotuFiles().slice(0, 20).flatMap((f) => readFileSync(f, 'utf8').split(/\n+/)).filter((p) => p.length > 0);
    const docs = [...paragraphs, ...paragraphs.slice(0, 30), 'ok', 'no'];
    const file = join(dir, 'corpus.txt');
    writeFileSync(file, docs.join(SEP));
    const bytes = (d: string): number => Buffer.byteLength(d);
    const quiet = { progress: undefined, warn: () => {}, log: () => {} };

    const plain = await docStatsPipeline.run(docStatsPipeline.parse(['-i', file, '--quiet']) as never, quiet) as { files: Record<string, { documents: number; bytes: number; longest_document_bytes: number }> };
    assert.deepEqual(plain.files[file], { documents: docs.length, bytes: docs.reduce((t, d) => t + bytes(d), 0), longest_document_bytes: Math.max(...docs.map(bytes)) });

    const kept = [...new Set(docs)].filter((d) => bytes(d) >= 10);
    const filtered = await docStatsPipeline.run(docStatsPipeline.parse(['-i', file, '--dedup', '--min-doc-bytes', '10', '--quiet']) as never, quiet) as { files: Record<string, { documents: number; bytes: number }>; stages: Record<string, Record<string, number>> };
    assert.equal(filtered.files[file].documents, kept.length);
    assert.equal(filtered.files[file].bytes, kept.reduce((t, d) => t + bytes(d), 0));
    assert.equal(filtered.stages['dedup-docs'].dropped_duplicates, docs.filter((d) => bytes(d) >= 10).length - kept.length);
    assert.ok(filtered.stages['filter-docs'].dropped_short >= 2);

    // And as a user runs it.
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'examples', 'doc-stats.ts'), '-i', file, '--quiet'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { files: Record<string, { documents: number }> }).files[file].documents, docs.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
