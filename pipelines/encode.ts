/**
 * encode: turn text files into a token file (raw uint16/uint32 ids + a JSON
 * sidecar) with a trained tokenizer, on a pool of worker threads. Streams:
 * memory stays bounded whatever the input size, and the output appears
 * under its final name only when complete.
 *
 *   npx tsx pipelines/encode.ts --tokenizer out/tok --input 'data/*.txt' --out out/data/train.bin
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { documentOptions, engineOption, formatOptions, parseWorkers, shardOptions, tokenizerOption, workersOption } from '../src/pipeline/common-options.ts';
import { readerOptions } from '../src/stages/formats/index.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { partName, resolveShard } from '../src/pipeline/shard.ts';
import { shardInputs } from '../src/stages/shard-inputs.ts';
import { SpecialMatcher } from '../src/tokenizer/special-matcher.ts';
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { formatDuration, formatQuantity } from '../src/pipeline/progress.ts';
import { chain, runChain } from '../src/pipeline/stage.ts';
import { threadStartWarning } from '../src/pipeline/worker-pool.ts';
import { documentSection } from '../src/stages/document-stages.ts';
import { encodeUnits, encodeWorkers, unitBytesFor } from '../src/stages/encode-units.ts';
import type { TokenizerEngine } from '../src/tokenizer/tokenizer-engine.ts';
import { writeTokens } from '../src/stages/write-tokens.ts';
import { resolveInputs, textSizeEstimate, totalSize } from '../src/stages/read-inputs.ts';
import { DEFAULT_ENCODE_MAX_PRETOKEN_BYTES } from '../src/tokenizer/chunking.ts';
import { encodeCut } from '../src/tokenizer/encode-files.ts';
import { TokenFileWriter, completedPart, documentIndexSummary, indexPath, notAPartsDir, notATokenFile, notATokenSidecar, sidecarPath, type ShardMeta } from '../src/tokenizer/token-file.ts';
import { tokenizerInputs } from '../src/tokenizer/tokenizer-files.ts';
import { reuseFreedMemory } from '../src/util/memory.ts';
import { guardOutputs } from '../src/util/output-guard.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';

/** The Pile, for the time estimate in the summary. */
const PILE_BYTES = 825e9;
/**
 * Below this much input the throughput is mostly start-up (JIT, the
 * pretoken caches filling), not the steady state: extrapolated to the Pile
 * it is off by several times (12 kB gave "5472h44m"), so the estimate is
 * omitted.
 */
const PILE_ESTIMATE_MIN_BYTES = 4e6;

export const encode = definePipeline({
  name: 'encode',
  description: 'encode text files into a token file (uint16/uint32 ids + JSON sidecar) with a BPE tokenizer',
  stages: [
    { name: 'read', description: 'stream the --input files (fast-glob patterns, - for stdin); read-documents when a document stage is on' },
    { name: 'filter-docs', description: 'drop documents under --min-doc-bytes, not matching --keep-regex, or matching --drop-regex (off unless asked)' },
    { name: 'dedup-docs', description: 'drop exact duplicate documents, keeping the first (with --dedup)' },
    { name: 'cut', description: 'cut the byte stream where encoding the parts separately cannot change the ids' },
    { name: 'encode', description: 'pretokenize and apply BPE merges on --workers threads, results kept in input order' },
    { name: 'write', description: 'append the ids to --out (temp file renamed at the end) and write its .json sidecar (and .index with --doc-index)' },
  ],
  options: {
    tokenizer: tokenizerOption,
    input: { type: 'string', multiple: true, required: true, short: 'i', placeholder: 'GLOB', description: 'input text files (glob; repeatable; - for stdin); each file is encoded on its own' },
    out: { type: 'string', required: true, short: 'o', placeholder: 'FILE', description: 'output token file (- for stdout: raw ids, no sidecar); must not be an input, and if it exists, be a token file' },
    force: { type: 'boolean', description: 'replace an existing --out that is not a token file (an input is never overwritten)' },
    specialToken: { type: 'string', multiple: true, placeholder: 'T', description: 'extra special token, kept whole (repeatable; those in lmpipe.json are always used)' },
    workers: workersOption('encode threads'),
    engine: engineOption,
    maxPretokenMb: { type: 'number', default: DEFAULT_ENCODE_MAX_PRETOKEN_BYTES / (1 << 20), min: 0.001, placeholder: 'MB', description: 'longest run without a place to cut held whole (a pretoken whose bytes the merges can join everywhere, e.g. one repeated letter); a longer one stops, naming its file and offset. Memory: about 10, at most 35, bytes per byte of such a run' },
    separator: { type: 'string', placeholder: 'TOKEN', helpDefault: "the tokenizer's first special token", description: 'document separator for the document stages and --doc-index' },
    docIndex: { type: 'boolean', description: 'also write OUT.index: where each document ends (the token offset after each --separator token, uint64 little-endian), for loaders that keep document boundaries' },
    ...documentOptions,
    ...formatOptions,
    ...shardOptions,
  },
  examples: [
    'npx tsx pipelines/encode.ts --tokenizer out/tok --input ../shared/corpora/tinystories.txt --out out/data/train.bin',
    "cat notes.txt | npx tsx pipelines/encode.ts -t out/tok -i - -o - --workers 0 > ids.u16",
    'npx tsx pipelines/encode.ts -t out/tok -i corpus.txt --min-doc-bytes 200 --dedup -o out/data/train.bin',
    "npx tsx pipelines/encode.ts -t out/tok -i 'owt/*.jsonl.zst' --text-field text -o out/data/owt.bin",
    "sbatch --array=0-15 --wrap \"npx tsx pipelines/encode.ts -t out/tok -i 'corpus/*.txt' --shard auto -o out/data/train-parts\"",
  ],
  validate(o) {
    parseWorkers(o.workers);
  },
  async run(o, ctx) {
    const allFiles = await resolveInputs(o.input);
    const shard = resolveShard(o.shard, o.shardCount);
    if (shard && o.out === '-') throw new UserError('--shard writes a directory of parts: give --out DIR, not -');
    if (o.docIndex && o.out === '-') throw new UserError('--doc-index writes OUT.index beside the token file: give --out FILE, not -');
    // With --shard, --out is a directory and this process writes its part there.
    const out = shard ? join(o.out, `${partName(shard.index, shard.count)}.bin`) : o.out;
    guardOutputs(out === '-' ? [] : [
      ...(shard ? [{ path: o.out, flag: '--out', type: 'dir' as const, what: 'directory of token-file parts', previous: notAPartsDir }] : []),
      { path: out, flag: '--out', type: 'file', what: 'token file', previous: notATokenFile },
      { path: sidecarPath(out), flag: '--out', type: 'file', what: 'token file sidecar', previous: notATokenSidecar },
      // The index belongs to the token file: replaced (or, without --doc-index, removed) with it.
      { path: indexPath(out), flag: '--out', type: 'file', what: 'document index' },
    ], [...allFiles.map((f) => ({ path: f.path, what: '--input' })), ...tokenizerInputs(o.tokenizer)],
    { force: o.force, forceFlag: { flag: '--force', effect: 'it is replaced' }, log: (m) => ctx.log(m) });
    const tok = Tokenizer.fromDir(o.tokenizer, o.specialToken);
    const separator = o.separator ?? tok.specialTokens[0]?.text;
    const separatorId = o.docIndex ? documentSeparatorId(tok, separator) : null;
    await reuseFreedMemory();
    const files = shard ? await shardInputs(allFiles, shard, new SpecialMatcher(tok.specialTokens.map((t) => t.text))) : allFiles;
    const shardMeta: ShardMeta | undefined = shard
      ? { index: shard.index, count: shard.count, inputs: files.map((f) => ({ file: f.path, start: f.start ?? 0, end: f.end ?? f.size })) }
      : undefined;
    if (shard) {
      mkdirSync(o.out, { recursive: true });
      // The sidecar is written last: one that matches this part and tokenizer means the part is complete.
      const done = completedPart(out, tok.hash(), shardMeta as ShardMeta, separatorId);
      if (done) {
        ctx.log(`${partName(shard.index, shard.count)} is already complete (${done.tokens} tokens, same tokenizer and input ranges): skipped`);
        return {
          out, skipped: true, shard: { ...shardMeta, source: shard.source }, tokens: done.tokens, bytes: done.sourceBytes, tokenizer_hash: done.tokenizerHash, dtype: done.dtype,
          ...documentIndexSummary(out, done),
        };
      }
    }
    const total = totalSize(files);
    const asked = parseWorkers(o.workers);
    const workers = asked === 'auto' ? encodeWorkers(textSizeEstimate(files)) : asked;
    const unitBytes = unitBytesFor(total, workers);
    const spec = tok.encoderSpec();
    const docs = documentSection(files, unitBytes, o, separator, readerOptions(o, separator));
    if (o.out === '-') ctx.claimStdout();
    const writer = new TokenFileWriter(out, {
      vocabSize: tok.vocabSize, tokenizerHash: tok.hash(), specialTokens: tok.specialTokens,
      ...(shardMeta ? { shard: shardMeta } : {}),
      ...(separatorId !== null ? { documentIndex: { separatorId } } : {}),
    });
    const encode = encodeUnits({ spec, workers, engine: o.engine as TokenizerEngine });
    if (encode.fallbackReason) ctx.log(`tokenizer core: TypeScript (the native core is not available: ${encode.fallbackReason})`);
    // No waiting for the worker threads: until they have started (each loads the code and
    // the tokenizer), the main thread encodes the units itself.
    const t0 = performance.now();
    let result;
    try {
      result = await runChain(chain(
        docs.source,
        docs.filter,
        docs.dedup,
        encodeCut(spec, unitBytes, Math.max(64, Math.round(o.maxPretokenMb * (1 << 20)))),
        encode,
        // Where the second half of a known-size input began: the Pile estimate uses the rate after it.
        writeTokens(writer, { halfBytes: total > 0 ? total / 2 : undefined }),
      ), { signal: ctx.signal, log: (m) => ctx.log(m), warn: (m) => ctx.warn(m), progress: ctx.progress });
    } catch (e) {
      writer.abort();
      throw e;
    } finally {
      await encode.close();
    }
    if (encode.threadStartError) ctx.warn(threadStartWarning(encode.threadStartError));
    const { bytes, tokens, half } = result.result;
    const tEnd = performance.now();
    const meta = await writer.close();
    const seconds = (tEnd - t0) / 1000;
    if (tokens === 0) ctx.warn('the input holds no text: the token file is empty');
    const bytesPerSecond = seconds > 0 ? bytes / seconds : 0;
    // Steady state: the rate over the second half of the input (past the workers' JIT and
    // cache warm-up), or over all of it after start-up when the size was unknown (stdin).
    const steady = half !== null && bytes > half.bytes && tEnd > half.t ? (bytes - half.bytes) / ((tEnd - half.t) / 1000) : bytesPerSecond;
    const pileSeconds = steady > 0 && bytes >= PILE_ESTIMATE_MIN_BYTES ? PILE_BYTES / steady : null;
    if (pileSeconds === null && tokens > 0) ctx.log(`no pile_825gb_estimate: ${formatQuantity(bytes, 'bytes')} is too little input to measure a steady throughput (needs ${formatQuantity(PILE_ESTIMATE_MIN_BYTES, 'bytes')})`);
    return {
      out,
      ...(shard ? { shard: { ...shardMeta, source: shard.source } } : {}),
      files: files.length,
      dtype: meta.dtype,
      vocab_size: tok.vocabSize,
      tokenizer_hash: meta.tokenizerHash,
      bytes,
      tokens,
      ...documentIndexSummary(out, meta),
      bytes_per_token: tokens > 0 ? Math.round((bytes / tokens) * 1000) / 1000 : null,
      mb_per_s: Math.round((bytesPerSecond / 1e6) * 100) / 100,
      tokens_per_s: seconds > 0 ? Math.round(tokens / seconds) : 0,
      workers,
      units_on_main_thread: encode.unitsOnMainThread,
      engine: encode.engine,
      pile_825gb_estimate: pileSeconds === null ? null : { seconds: Math.round(pileSeconds), human: formatDuration(pileSeconds) },
      stages: result.stages,
    };
  },
});

/** The id of the --doc-index separator: one of the tokenizer's special tokens. */
function documentSeparatorId(tok: Tokenizer, separator: string | undefined): number {
  if (separator === undefined) throw new UserError('--doc-index needs a document separator, and the tokenizer has no special token: give --separator TOKEN (a special token, e.g. --special-token TOKEN)');
  const found = tok.specialTokens.find((t) => t.text === separator);
  if (!found) throw new UserError(`--doc-index: the separator ${JSON.stringify(separator)} is not a special token of this tokenizer (it has ${tok.specialTokens.map((t) => JSON.stringify(t.text)).join(', ') || 'none'}); give --separator one of them or add it with --special-token`);
  return found.id;
}

await runIfMain(encode, import.meta.url);
