/**
 * count-pretokens: the counting half of train-bpe, saved to a count file
 * (`.counts`, byte layout in docs/ARCHITECTURE.md) so that counting can run
 * as N shards (`--shard`) on N machines; merge-counts adds the parts up and
 * `train-bpe --from-counts` learns the same merges as training on the whole
 * input.
 *
 *   npx tsx pipelines/count-pretokens.ts --input 'corpus/*.txt' --out out/counts/all.counts
 *   sbatch --array=0-15 --wrap "npx tsx pipelines/count-pretokens.ts -i 'corpus/*.txt' --shard auto -o out/counts"
 */
import { join } from 'node:path';
import { documentOptions, engineOption, formatOptions, parseWorkers, shardOptions, workersOption } from '../src/pipeline/common-options.ts';
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { partName, resolveShard } from '../src/pipeline/shard.ts';
import { resolveInputs } from '../src/stages/read-inputs.ts';
import { shardInputs } from '../src/stages/shard-inputs.ts';
import { validateSpecials } from '../src/tokenizer/bpe-train.ts';
import { DEFAULT_TRAIN_MAX_PRETOKEN_BYTES } from '../src/tokenizer/chunking.ts';
import type { TokenizerEngine } from '../src/tokenizer/tokenizer-engine.ts';
import { countCorpus } from '../src/tokenizer/count-corpus.ts';
import { CountsReader, canonicalInputs, countsHeader, notACountFile, saveCounts, type CountsHeader } from '../src/tokenizer/counts-file.ts';
import { SpecialMatcher } from '../src/tokenizer/special-matcher.ts';
import { guardOutputs } from '../src/util/output-guard.ts';

/** The header of a complete part at `path` counted from exactly `inputs` with `specials`, or null. */
function completedPart(path: string, specials: readonly string[], inputs: CountsHeader['inputs']): CountsHeader | null {
  try {
    const r = new CountsReader(path);
    r.close();
    const h = r.header;
    return JSON.stringify(h.specialTokens) === JSON.stringify(specials) && JSON.stringify(h.inputs) === JSON.stringify(canonicalInputs(inputs)) ? h : null;
  } catch {
    return null;
  }
}

export const countPretokensPipeline = definePipeline({
  name: 'count-pretokens',
  description: 'count the pretokens of text files (train-bpe\'s counting) into a count file, whole or as one shard of many',
  stages: [
    { name: 'read', description: 'stream the --input files (or this shard\'s byte ranges of them)' },
    { name: 'filter-docs', description: 'drop documents under --min-doc-bytes, not matching --keep-regex, or matching --drop-regex (off unless asked)' },
    { name: 'dedup-docs', description: 'drop exact duplicate documents, keeping the first (with --dedup; per shard)' },
    { name: 'cut', description: 'cut the text where counting the parts separately gives the same counts' },
    { name: 'count', description: 'split on special tokens, pretokenize (GPT-2 pattern), count pretokens (worker threads)' },
    { name: 'tally', description: 'add up the counts; then write them sorted, with 64-bit counts (temp file renamed at the end)' },
  ],
  options: {
    input: { type: 'string', multiple: true, required: true, short: 'i', placeholder: 'GLOB', description: 'text files (glob; repeatable; - for stdin unless sharded)' },
    out: { type: 'string', required: true, short: 'o', placeholder: 'FILE|DIR', description: 'count file; with --shard, the directory of parts (part-i-of-n.counts)' },
    force: { type: 'boolean', description: 'replace an existing --out that is not a count file' },
    specialToken: { type: 'string', multiple: true, default: ['<|endoftext|>'], placeholder: 'TOKEN', description: 'special token: split on, never counted as text (repeatable)' },
    noSpecialTokens: { type: 'boolean', description: 'count without any special token' },
    workers: workersOption('counting threads'),
    engine: engineOption,
    chunkMb: { type: 'number', default: 8, min: 0.001, placeholder: 'MB', description: 'unit size for counting' },
    maxPretokenMb: { type: 'number', default: DEFAULT_TRAIN_MAX_PRETOKEN_BYTES / (1 << 20), min: 0.001, placeholder: 'MB', description: 'longest pretoken counted exactly; a longer one stops the run, naming its file and offset' },
    separator: { type: 'string', placeholder: 'TOKEN', helpDefault: 'the first --special-token', description: 'document separator for the document stages' },
    ...documentOptions,
    ...formatOptions,
    ...shardOptions,
  },
  examples: [
    "npx tsx pipelines/count-pretokens.ts --input 'corpus/*.txt' --out out/counts/all.counts",
    "npx tsx pipelines/count-pretokens.ts -i 'corpus/*.txt' --shard 3/16 -o out/counts",
  ],
  validate(o) {
    parseWorkers(o.workers);
  },
  async run(o, ctx) {
    const allFiles = await resolveInputs(o.input);
    const shard = resolveShard(o.shard, o.shardCount);
    const out = shard ? join(o.out, `${partName(shard.index, shard.count)}.counts`) : o.out;
    guardOutputs([{ path: out, flag: '--out', type: 'file', what: 'count file', previous: notACountFile }],
      allFiles.map((f) => ({ path: f.path, what: '--input' })),
      { force: o.force, forceFlag: { flag: '--force', effect: 'it is replaced' }, log: (m) => ctx.log(m) });
    const specials = validateSpecials(o.noSpecialTokens ? [] : o.specialToken, 256 + (o.noSpecialTokens ? 0 : o.specialToken.length));
    const files = shard ? await shardInputs(allFiles, shard, new SpecialMatcher(specials)) : allFiles;
    const inputs = files.map((f) => ({ file: f.path, start: f.start ?? 0, end: f.end ?? f.size }));
    const shardBlock = shard ? { index: shard.index, count: shard.count, source: shard.source, inputs } : undefined;
    if (shard) {
      const done = completedPart(out, specials, inputs);
      if (done) {
        ctx.log(`${partName(shard.index, shard.count)} is already complete (${done.entries} unique pretokens, same inputs): skipped`);
        return { out, skipped: true, shard: shardBlock, unique_pretokens: done.entries, input_bytes: done.stats.bytes };
      }
    }
    const c = await countCorpus(files, {
      ...o, engine: o.engine as TokenizerEngine, specialTokens: specials, workers: parseWorkers(o.workers),
      chunkBytes: Math.max(64, Math.round(o.chunkMb * 1e6)), maxHeldBytes: Math.max(64, Math.round(o.maxPretokenMb * (1 << 20))),
    }, { signal: ctx.signal, log: (m) => ctx.log(m), warn: (m) => ctx.warn(m), progress: ctx.progress });
    const t0 = performance.now();
    // A shard that starts inside a file starts inside a piece of text (shard boundaries are text cuts):
    // the shard before it counted that piece already, so the merged counts count it once, as one process does.
    // (`pieces` counts a piece once per unit it spans, so it depends on where units were cut: the
    // file records the cut-independent document count there too.)
    const continued = files.filter((f) => (f.start ?? 0) > 0).length;
    const documents = c.counted.documents - continued;
    const stats = { ...c.counted.stats, pieces: documents, documents };
    saveCounts(out, c.counted.counts, countsHeader(specials, inputs, c.counted.counts.lens.length, stats, shard ? { index: shard.index, count: shard.count } : undefined));
    const writeS = (performance.now() - t0) / 1000;
    return {
      out,
      ...(shardBlock ? { shard: shardBlock } : {}),
      files: files.length,
      input_bytes: stats.bytes,
      pretokens: stats.pretokens,
      unique_pretokens: c.counted.counts.lens.length,
      workers: c.workers,
      engine: c.engine,
      stages: { ...c.stages, write: { seconds: Math.round(writeS * 1000) / 1000, items: c.counted.counts.lens.length } },
    };
  },
});

await runIfMain(countPretokensPipeline, import.meta.url);
