/**
 * train-bpe: learn a byte-level BPE tokenizer (CS336 semantics) from text
 * files and write vocab.json, merges.txt, tokenizer.json (HuggingFace) and
 * lmpipe.json into --out, atomically. Streams the corpus in chunks; memory
 * grows with unique pretokens, not with the corpus.
 *
 *   npx tsx pipelines/train-bpe.ts --input 'corpus/*.txt' --vocab-size 10000 --out out/tok
 */
import { join } from 'node:path';
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { UserError } from '../src/pipeline/errors.ts';
import type { ProgressTask } from '../src/pipeline/progress.ts';
import { documentOptions, engineOption, formatOptions, parseWorkers, workersOption } from '../src/pipeline/common-options.ts';
import { resolveInputs } from '../src/stages/read-inputs.ts';
import { bpeFromCounts, validateSpecials } from '../src/tokenizer/bpe-train.ts';
import type { TokenizerEngine } from '../src/tokenizer/tokenizer-engine.ts';
import { countCorpus, type CountedCorpus } from '../src/tokenizer/count-corpus.ts';
import { loadCounts } from '../src/tokenizer/counts-file.ts';
import { DEFAULT_TRAIN_MAX_PRETOKEN_BYTES } from '../src/tokenizer/chunking.ts';
import { notTrainBpeOutput, writeTokenizerDir } from '../src/tokenizer/tokenizer-files.ts';
import { guardOutputs } from '../src/util/output-guard.ts';

export const trainBpePipeline = definePipeline({
  name: 'train-bpe',
  description: 'train a byte-level BPE tokenizer (CS336 rules) and write it as vocab.json, merges.txt and tokenizer.json',
  stages: [
    { name: 'read', description: 'stream the --input files (fast-glob patterns, - for stdin); read-documents when a document stage is on' },
    { name: 'filter-docs', description: 'drop documents under --min-doc-bytes, not matching --keep-regex, or matching --drop-regex (off unless asked)' },
    { name: 'dedup-docs', description: 'drop exact duplicate documents, keeping the first (with --dedup)' },
    { name: 'cut', description: 'cut the text where counting the parts separately gives the same counts' },
    { name: 'count', description: 'split on special tokens, pretokenize (GPT-2 pattern), count pretokens (worker threads)' },
    { name: 'tally', description: 'add up the counts' },
    { name: 'merge', description: 'merge the most frequent pair until --vocab-size (ties: greater byte pair)' },
    { name: 'write', description: 'write the tokenizer directory atomically' },
  ],
  options: {
    input: { type: 'string', multiple: true, short: 'i', placeholder: 'GLOB', description: 'training text (glob; repeatable; - for stdin); each file is its own text' },
    fromCounts: { type: 'string', placeholder: 'FILE', description: 'train from a count file (count-pretokens, merge-counts) instead of --input: the same merges as training on the text it counts' },
    vocabSize: { type: 'int', default: 10000, min: 256, placeholder: 'N', description: 'vocab size including the 256 bytes and the special tokens' },
    specialToken: { type: 'string', multiple: true, default: ['<|endoftext|>'], placeholder: 'TOKEN', description: 'special token: never merged across, gets an id first' },
    noSpecialTokens: { type: 'boolean', description: 'train without any special token (overrides --special-token)' },
    out: { type: 'string', required: true, short: 'o', placeholder: 'DIR', description: 'output directory (replaced only when training succeeds); must not hold the input, and if it exists, be a tokenizer directory from train-bpe or empty' },
    force: { type: 'boolean', description: 'write into an existing --out that holds other files (they are kept; an input is never overwritten)' },
    workers: workersOption('counting threads'),
    engine: engineOption,
    chunkMb: { type: 'number', default: 8, min: 0.001, placeholder: 'MB', description: 'chunk size for streaming and counting' },
    separator: { type: 'string', placeholder: 'TOKEN', helpDefault: 'the first --special-token', description: 'document separator for the document stages' },
    ...documentOptions,
    ...formatOptions,
    maxPretokenMb: { type: 'number', default: DEFAULT_TRAIN_MAX_PRETOKEN_BYTES / (1 << 20), min: 0.001, placeholder: 'MB', description: 'longest pretoken (a run with no whitespace, digit or punctuation break, e.g. one repeated character) trained on exactly; a longer one stops the run, naming its file and offset. A run of one repeated character yields tokens as long as itself: memory up to ~250 bytes per byte of it. Chunks are no larger than this' },
  },
  examples: [
    "npx tsx pipelines/train-bpe.ts --input ../shared/corpora/tinystories.txt --vocab-size 10000 --out out/tok",
    "npx tsx pipelines/train-bpe.ts -i 'corpus/*.txt' --vocab-size 32000 --special-token '<|endoftext|>' --special-token '<|pad|>' -o out/tok32k",
    'cat corpus.txt | npx tsx pipelines/train-bpe.ts -i - --vocab-size 5000 -o out/tok5k',
    'npx tsx pipelines/train-bpe.ts --from-counts out/counts/total.counts --vocab-size 32000 -o out/tok32k',
  ],
  validate(o) {
    parseWorkers(o.workers);
  },
  async run(o, ctx) {
    if ((o.input.length > 0) === (o.fromCounts !== undefined)) throw new UserError('give either --input (text to count) or --from-counts FILE (counts made by count-pretokens / merge-counts), not both');
    const files = o.fromCounts === undefined ? await resolveInputs(o.input) : [];
    const inputs = o.fromCounts === undefined ? files.map((f) => ({ path: f.path, what: '--input' })) : [{ path: o.fromCounts, what: '--from-counts' }];
    guardOutputs([{ path: o.out, flag: '--out', type: 'dir', what: 'tokenizer directory', previous: notTrainBpeOutput, suggest: join(o.out, 'tokenizer') }],
      inputs,
      { force: o.force, forceFlag: { flag: '--force', effect: 'its other files are kept' }, log: (m) => ctx.log(m) });
    const specialTokens = o.noSpecialTokens ? [] : o.specialToken;
    const chunkBytes = Math.max(64, Math.round(o.chunkMb * 1e6));
    const maxHeld = Math.max(64, Math.round(o.maxPretokenMb * (1 << 20)));
    let c: CountedCorpus;
    let specials: string[];
    if (o.fromCounts !== undefined) {
      const t = performance.now();
      const cpu = process.cpuUsage();
      const { header, counts } = loadCounts(o.fromCounts);
      const defaults = JSON.stringify(specialTokens) === JSON.stringify(['<|endoftext|>']) && !o.noSpecialTokens;
      if (!defaults && JSON.stringify(specialTokens) !== JSON.stringify(header.specialTokens)) {
        throw new UserError(`--from-counts ${o.fromCounts} was counted with special tokens ${JSON.stringify(header.specialTokens)}, not ${JSON.stringify(specialTokens)}; drop --special-token (the file's are used) or count again`);
      }
      specials = validateSpecials(header.specialTokens, o.vocabSize);
      const { documents, ...stats } = header.stats;
      const seconds = Math.round(performance.now() - t) / 1000;
      c = { counted: { counts, stats, units: 0, documents }, stages: { load: { seconds, items: header.entries } }, workers: 0, unitsOnMainThread: 0, engine: null, started: { t, cpu } };
      ctx.log(`${header.entries} unique pretokens from ${o.fromCounts} (${header.inputs.length} input range(s), ${header.stats.bytes} bytes counted)`);
    } else {
      specials = validateSpecials(specialTokens, o.vocabSize);
      c = await countCorpus(files, {
        ...o, engine: o.engine as TokenizerEngine, specialTokens: specials, workers: parseWorkers(o.workers), chunkBytes, maxHeldBytes: maxHeld,
      }, { signal: ctx.signal, log: (m) => ctx.log(m), warn: (m) => ctx.warn(m), progress: ctx.progress });
    }
    if (ctx.signal.aborted) throw new UserError('interrupted');
    let merge: ProgressTask | null = null;
    const result = bpeFromCounts(c.counted, {
      vocabSize: o.vocabSize, specialTokens: specials, workers: c.workers, unitsOnMainThread: c.unitsOnMainThread, stages: c.stages, started: c.started,
      onProgress: (p) => {
        if (ctx.signal.aborted) throw new UserError('interrupted');
        merge ??= ctx.progress.task('merge', 'steps', p.total);
        merge.update(p.done);
      },
    });
    (merge as ProgressTask | null)?.stop();

    const t0 = performance.now();
    const s = result.stats;
    const meta = await writeTokenizerDir(o.out, result, s, { keepOthers: o.force });
    const writeMs = performance.now() - t0;

    if (s.invalidUtf8 > 0) ctx.warn(`${s.invalidUtf8} invalid UTF-8 sequence(s) in the input were kept as bytes`);
    if (s.stoppedEarly) ctx.warn(`only ${s.merges} merges were possible: the vocab has ${result.vocab.size} entries, fewer than --vocab-size ${o.vocabSize}`);
    return {
      out: o.out,
      files: files.length,
      input_bytes: s.inputBytes,
      documents: s.documents,
      pretokens: s.pretokens,
      unique_pretokens: s.uniquePretokens,
      invalid_utf8: s.invalidUtf8,
      vocab_size: result.vocab.size,
      merges: s.merges,
      special_tokens: meta.specialTokens,
      workers: s.workers,
      engine: c.engine,
      time_s: {
        count: round3(s.timeMs.count / 1000),
        merge: round3(s.timeMs.merge / 1000),
        write: round3(writeMs / 1000),
      },
      count_mb_per_s: round3(s.inputBytes / 1e6 / (s.timeMs.count / 1000)),
      longest_tokens: s.longestTokens.map((t) => ({ id: t.id, bytes: t.bytes, text: t.text })),
      tokenizer_hash: meta.tokenizerHash,
      stages: { ...s.stages, merge: { seconds: round3(s.timeMs.merge / 1000), items: s.merges }, write: { seconds: round3(writeMs / 1000), items: 1 } },
    };
  },
});

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

await runIfMain(trainBpePipeline, import.meta.url);
