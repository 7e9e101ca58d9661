/**
 * merge-counts: adds count files up (a streaming k-way merge of their sorted
 * records, so memory is one buffer per file). Associative: merge the parts
 * of a sharded count-pretokens job in one go or as a tree, in any order; the
 * result is the same file. Then `train-bpe --from-counts`.
 *
 *   npx tsx pipelines/merge-counts.ts 'out/counts/part-*.counts' --out out/counts/total.counts
 */
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { resolveInputs } from '../src/stages/read-inputs.ts';
import { CountsReader, mergeCountFiles, notACountFile } from '../src/tokenizer/counts-file.ts';
import { guardOutputs } from '../src/util/output-guard.ts';

export const mergeCounts = definePipeline({
  name: 'merge-counts',
  description: 'add count files (count-pretokens parts) into one, for train-bpe --from-counts',
  positional: 'counts',
  stages: [
    { name: 'check', description: 'all files share the pattern and special tokens; a sharded job\'s parts are all present, once each' },
    { name: 'merge', description: 'k-way merge of the sorted records, counts added (temp file renamed at the end)' },
  ],
  options: {
    counts: { type: 'string', multiple: true, required: true, placeholder: 'COUNTS', description: 'count files or globs (e.g. \'out/counts/part-*.counts\'; also as plain arguments); a sharded job\'s parts must all be there' },
    out: { type: 'string', required: true, short: 'o', placeholder: 'FILE', description: 'the merged count file' },
    force: { type: 'boolean', description: 'replace an existing --out that is not a count file' },
    partial: { type: 'boolean', description: 'merge only some parts of a sharded job (one step of a merge tree); the result says which' },
  },
  examples: ["npx tsx pipelines/merge-counts.ts 'out/counts/part-*.counts' --out out/counts/total.counts"],
  async run(o, ctx) {
    const files = (await resolveInputs(o.counts, process.cwd(), '--counts')).map((f) => f.path);
    guardOutputs([{ path: o.out, flag: '--out', type: 'file', what: 'count file', previous: notACountFile }],
      files.map((p) => ({ path: p, what: 'a count file to merge' })),
      { force: o.force, forceFlag: { flag: '--force', effect: 'it is replaced' }, log: (m) => ctx.log(m) });
    // Parts of one sharded job (or merges of some of them): each index once, all of them unless --partial.
    const covered = new Map<number, string>();
    let jobCount: number | null = null;
    for (const p of files) {
      const r = new CountsReader(p);
      r.close();
      const h = r.header;
      const mine = h.shard ? { count: h.shard.count, indices: [h.shard.index] } : h.parts ?? null;
      if (mine === null) continue;
      if (jobCount !== null && mine.count !== jobCount) throw new UserError(`${p} holds parts of a ${mine.count}-shard job, other files of a ${jobCount}-shard job: parts of different splits cannot be merged`);
      jobCount = mine.count;
      for (const i of mine.indices) {
        const other = covered.get(i);
        if (other) throw new UserError(`${p} and ${other} both hold part ${i} of ${mine.count}; merge each part once`);
        covered.set(i, p);
      }
    }
    let parts: { count: number; indices: number[] } | undefined;
    if (jobCount !== null && covered.size < jobCount) {
      const missing = Array.from({ length: jobCount }, (_, i) => i).filter((i) => !covered.has(i));
      if (!o.partial) throw new UserError(`part(s) ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''} of ${jobCount} are missing (${covered.size} given); wait for (or rerun) those shards, or pass --partial to merge some parts now (a step of a merge tree)`);
      parts = { count: jobCount, indices: [...covered.keys()].sort((a, b) => a - b) };
    }
    const t0 = performance.now();
    const header = mergeCountFiles(files, o.out, parts);
    return {
      out: o.out,
      ...(parts ? { partial: parts } : {}),
      files: files.length,
      unique_pretokens: header.entries,
      input_bytes: header.stats.bytes,
      pretokens: header.stats.pretokens,
      merge_s: Math.round(performance.now() - t0) / 1000,
    };
  },
});

await runIfMain(mergeCounts, import.meta.url);
