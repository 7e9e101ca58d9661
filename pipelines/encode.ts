/**
 * encode: turn text files into a token file (raw uint16/uint32 ids + a JSON
 * sidecar) with a trained tokenizer, on a pool of worker threads. Streams:
 * memory stays bounded whatever the input size, and the output appears
 * under its final name only when complete.
 *
 *   npx tsx pipelines/encode.ts --tokenizer out/tok --input 'data/*.txt' --out out/data/train.bin
 */
import { cpus } from 'node:os';
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { formatDuration } from '../src/pipeline/progress.ts';
import { resolveInputs, totalSize } from '../src/stream/read.ts';
import { ParallelEncoder, unitBytesFor } from '../src/tokenizer/bpe-encode-parallel.ts';
import { TokenFileWriter } from '../src/tokenizer/token-file.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';

/** The Pile, for the time estimate in the summary. */
const PILE_BYTES = 825e9;

export const encode = definePipeline({
  name: 'encode',
  description: 'encode text files into a token file (uint16/uint32 ids + JSON sidecar) with a BPE tokenizer',
  stages: [
    { name: 'read', description: 'stream the --input files (fast-glob patterns, - for stdin)' },
    { name: 'split', description: 'cut the byte stream where encoding the parts separately cannot change the ids' },
    { name: 'encode', description: 'pretokenize and apply BPE merges on --workers threads, results kept in input order' },
    { name: 'write', description: 'append the ids to --out (temp file renamed at the end) and write its .json sidecar' },
  ],
  options: {
    tokenizer: { type: 'string', required: true, short: 't', placeholder: 'DIR', description: 'tokenizer directory (vocab.json + merges.txt [+ lmpipe.json])' },
    input: { type: 'string', multiple: true, required: true, short: 'i', placeholder: 'GLOB', description: 'input text files (glob; repeatable; - for stdin); each file is encoded on its own' },
    out: { type: 'string', required: true, short: 'o', placeholder: 'FILE', description: 'output token file (- for stdout: raw ids, no sidecar)' },
    specialToken: { type: 'string', multiple: true, placeholder: 'T', description: 'extra special token, kept whole (repeatable; those in lmpipe.json are always used)' },
    workers: { type: 'int', default: Math.max(1, Math.min(8, cpus().length)), min: 0, max: 64, placeholder: 'N', description: 'worker threads (0: encode on the main thread)' },
  },
  examples: [
    'npx tsx pipelines/encode.ts --tokenizer out/tok --input ../shared/corpora/tinystories.txt --out out/data/train.bin',
    "cat notes.txt | npx tsx pipelines/encode.ts -t out/tok -i - -o - --workers 0 > ids.u16",
  ],
  async run(o, ctx) {
    const tok = Tokenizer.fromDir(o.tokenizer, o.specialToken);
    const files = await resolveInputs(o.input);
    const total = totalSize(files);
    if (o.out === '-') ctx.claimStdout();
    const writer = new TokenFileWriter(o.out, { vocabSize: tok.vocabSize, tokenizerHash: tok.hash(), specialTokens: tok.specialTokens });
    const pool = new ParallelEncoder(tok.encoderSpec(), {
      workers: o.workers,
      onForcedCut: (file, offset) => ctx.warn(`${file}: no safe place to cut near byte ${offset} (tens of MB without a pretoken boundary); the ids around it may differ from encoding the file whole`),
    });
    const task = ctx.progress.task('encode', 'bytes', total > 0 ? total : undefined);
    const t0 = performance.now();
    let bytes = 0;
    let tokens = 0;
    try {
      for await (const unit of pool.encodeFiles(files, unitBytesFor(total, o.workers), { reuseIds: true })) {
        if (ctx.signal.aborted) throw new Error('interrupted');
        await writer.write(unit.ids, unit.bytes, true);
        bytes += unit.bytes;
        tokens += unit.ids.length;
        const s = (performance.now() - t0) / 1000;
        task.increment(unit.bytes, `${(tokens / 1e6).toFixed(2)} M tokens, ${s > 0 ? (tokens / s / 1e6).toFixed(2) : '?'} M tokens/s`);
      }
      task.stop();
    } catch (e) {
      writer.abort();
      throw e;
    } finally {
      await pool.close();
    }
    const meta = await writer.close();
    const seconds = (performance.now() - t0) / 1000;
    if (tokens === 0) ctx.warn('the input holds no text: the token file is empty');
    const bytesPerSecond = seconds > 0 ? bytes / seconds : 0;
    const pileSeconds = bytesPerSecond > 0 ? PILE_BYTES / bytesPerSecond : null;
    return {
      out: o.out,
      files: files.length,
      dtype: meta.dtype,
      vocab_size: tok.vocabSize,
      tokenizer_hash: meta.tokenizerHash,
      bytes,
      tokens,
      bytes_per_token: tokens > 0 ? Math.round((bytes / tokens) * 1000) / 1000 : null,
      mb_per_s: Math.round((bytesPerSecond / 1e6) * 100) / 100,
      tokens_per_s: seconds > 0 ? Math.round(tokens / seconds) : 0,
      workers: o.workers,
      pile_825gb_estimate: pileSeconds === null ? null : { seconds: Math.round(pileSeconds), human: formatDuration(pileSeconds) },
    };
  },
});

await runIfMain(encode, import.meta.url);
