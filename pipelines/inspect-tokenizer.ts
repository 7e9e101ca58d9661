/**
 * inspect-tokenizer: what a tokenizer holds and how well it compresses:
 * vocabulary size, special tokens, the longest tokens (decoded), and
 * bytes per token on a uniform sample of documents from a text file.
 *
 *   npx tsx pipelines/inspect-tokenizer.ts --tokenizer out/tok --sample ../shared/corpora/tinystories.txt
 */
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { documentDraw, documentEvents } from '../src/stream/documents.ts';
import { readInputs, resolveInputs, totalSize } from '../src/stream/read.ts';
import type { StreamEncoder } from '../src/tokenizer/bpe-encode-stream.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';

/** A token as shown to people: its bytes decoded (U+FFFD where they are not valid UTF-8 on their own). */
function shown(tok: Tokenizer, id: number): { id: number; bytes: number; text: string } {
  return { id, bytes: tok.tokenBytes(id).length, text: tok.decode([id]) };
}

export const inspectTokenizer = definePipeline({
  name: 'inspect-tokenizer',
  description: 'show a tokenizer\'s vocabulary and its compression (bytes per token) on sampled documents',
  stages: [
    { name: 'load', description: 'read the tokenizer directory' },
    { name: 'vocab', description: 'vocabulary size, special tokens, longest tokens' },
    { name: 'sample', description: 'encode a seeded uniform sample of --sample documents and measure bytes per token' },
  ],
  options: {
    tokenizer: { type: 'string', required: true, short: 't', placeholder: 'DIR', description: 'tokenizer directory (vocab.json + merges.txt [+ lmpipe.json]), or a HuggingFace tokenizer.json' },
    sample: { type: 'string', multiple: true, placeholder: 'GLOB', description: 'text files to sample documents from (repeatable; - for stdin)' },
    separator: { type: 'string', default: '<|endoftext|>', placeholder: 'TOKEN', description: 'document separator in the sample files' },
    sampleMb: { type: 'number', default: 4, min: 0.001, placeholder: 'MB', description: 'about how much text to sample' },
    top: { type: 'int', default: 20, min: 0, max: 1000, description: 'how many longest tokens to list' },
    seed: { type: 'int', default: 0, description: 'seed of the document sample' },
  },
  examples: ['npx tsx pipelines/inspect-tokenizer.ts --tokenizer out/tok --sample ../shared/corpora/tinystories.txt'],
  validate(o) {
    if (o.separator.length === 0) throw new UserError('--separator must not be empty');
  },
  async run(o, ctx) {
    const tok = Tokenizer.fromDir(o.tokenizer);
    const specialIds = new Set(tok.specialTokens.map((s) => s.id));
    const ids = Array.from({ length: tok.vocabSize }, (_, id) => id).filter((id) => !specialIds.has(id));
    const lengths = ids.map((id) => tok.tokenBytes(id).length);
    const longest = ids
      .map((id, k) => [id, lengths[k]] as const)
      .sort((a, b) => b[1] - a[1] || a[0] - b[0])
      .slice(0, o.top)
      .map(([id]) => shown(tok, id));
    const meanBytes = lengths.reduce((a, b) => a + b, 0) / Math.max(1, lengths.length);
    ctx.log(`vocabulary: ${tok.vocabSize} ids (${tok.mergeCount} merges, ${tok.specialTokens.length} special), mean token length ${meanBytes.toFixed(2)} bytes`);
    for (const t of longest.slice(0, Math.min(10, longest.length))) ctx.log(`  ${String(t.id).padStart(6)}  ${t.bytes} B  ${JSON.stringify(t.text)}`);

    let sample = null;
    if (o.sample.length > 0) {
      const files = await resolveInputs(o.sample, process.cwd(), '--sample');
      const total = totalSize(files);
      const sep = Buffer.from(o.separator, 'utf8');
      // Each document is taken with the same probability, so the sample is uniform over documents.
      const p = total > 0 ? Math.min(1, (o.sampleMb * 1e6) / total) : 1;
      const task = ctx.progress.task('sample', 'bytes', total > 0 ? total : undefined);
      let documents = 0;
      let bytes = 0;
      let tokens = 0;
      // Sampled documents are encoded as they stream in, so none is held whole.
      let encoder: StreamEncoder | null = null;
      let where = '';
      const count = (ids: Uint32Array | null): void => { tokens += ids?.length ?? 0; };
      const events = documentEvents(readInputs(files), sep, (n) => task.increment(n, `${documents} documents sampled`));
      try {
        for await (const ev of events) {
          if (ev.kind === 'start') {
            encoder = documentDraw(o.seed, ev.index) < p ? tok.streamEncoder(1 << 20) : null;
            where = `${ev.file === '-' ? 'stdin' : ev.file}, the document at byte ${ev.offset}`;
            if (encoder) documents++;
          } else if (encoder && ev.kind === 'data') {
            bytes += ev.data.length;
            count(encoder.push(ev.data));
          } else if (encoder && ev.kind === 'end') {
            count(encoder.finish());
            encoder = null;
            if (total < 0 && bytes >= o.sampleMb * 1e6) break;
          }
        }
      } catch (e) {
        if (e instanceof UserError && encoder) throw new UserError(`${where}: ${e.message}`);
        throw e;
      }
      task.stop();
      if (documents === 0) ctx.warn('no document was sampled (empty input?)');
      sample = {
        files: files.length,
        documents,
        bytes,
        tokens,
        bytes_per_token: tokens > 0 ? Math.round((bytes / tokens) * 1000) / 1000 : null,
      };
      ctx.log(`sample: ${documents} documents, ${bytes} bytes -> ${tokens} tokens (${sample.bytes_per_token} bytes/token)`);
    }
    return {
      tokenizer: o.tokenizer,
      vocab_size: tok.vocabSize,
      merges: tok.mergeCount,
      special_tokens: tok.specialTokens.map((s) => ({ token: s.text, id: s.id })),
      tokenizer_hash: tok.hash(),
      mean_token_bytes: Math.round(meanBytes * 1000) / 1000,
      longest_tokens: longest,
      sample,
    };
  },
});

await runIfMain(inspectTokenizer, import.meta.url);
