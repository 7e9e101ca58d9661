/**
 * inspect-tokenizer: what a tokenizer holds and how well it compresses:
 * vocabulary size, special tokens, the longest tokens (decoded), and
 * bytes per token on a uniform sample of documents from a text file.
 *
 *   npx tsx pipelines/inspect-tokenizer.ts --tokenizer out/tok --sample ../shared/corpora/tinystories.txt
 */
import { formatOptions } from '../src/pipeline/common-options.ts';
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { readerOptions } from '../src/stages/formats/index.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { chain, runChain, type Sink } from '../src/pipeline/stage.ts';
import { inputName } from '../src/stages/cut.ts';
import type { Unit } from '../src/stages/items.ts';
import { readDocuments } from '../src/stages/read-documents.ts';
import { sampleDocs } from '../src/stages/sample-docs.ts';
import { resolveInputs, totalSize } from '../src/stages/read-inputs.ts';
import type { StreamEncoder } from '../src/tokenizer/bpe-encode-stream.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';

/** What the measure sink found. */
interface Measured {
  documents: number;
  bytes: number;
  tokens: number;
}

/**
 * The measure sink: encodes each sampled document on its own (streamed, so
 * none is held whole) and counts documents, bytes and tokens. With `maxBytes`
 * it stops after the document that reaches that many bytes.
 */
function measure(tok: Tokenizer, maxBytes: number): Sink<Unit, Measured> {
  return {
    name: 'measure',
    description: 'encode each sampled document on its own and count bytes and tokens',
    async consume(source) {
      const m: Measured = { documents: 0, bytes: 0, tokens: 0 };
      let encoder: StreamEncoder | null = null;
      for await (const piece of source) {
        try {
          if (encoder === null) {
            encoder = tok.streamEncoder(1 << 20);
            m.documents++;
          }
          m.bytes += piece.data.length;
          m.tokens += encoder.push(piece.data)?.length ?? 0;
          if (!piece.continues) {
            m.tokens += encoder.finish().length;
            encoder = null;
            if (m.bytes >= maxBytes) break;
          }
        } catch (e) {
          if (e instanceof UserError) throw new UserError(`${inputName(piece.file)}, the document at byte ${piece.offset}: ${e.message}`);
          throw e;
        }
      }
      return m;
    },
  };
}

/** A token as shown to people: its bytes decoded (U+FFFD where they are not valid UTF-8 on their own). */
function shown(tok: Tokenizer, id: number): { id: number; bytes: number; text: string } {
  return { id, bytes: tok.tokenBytes(id).length, text: tok.decode([id]) };
}

export const inspectTokenizer = definePipeline({
  name: 'inspect-tokenizer',
  description: 'show a tokenizer\'s vocabulary and its compression (bytes per token) on sampled documents',
  stages: [
    { name: 'load', description: 'read the tokenizer directory; vocabulary size, special tokens, longest tokens' },
    { name: 'read', description: 'stream the --sample files as document-aligned units' },
    { name: 'sample-docs', description: 'keep a seeded uniform sample of the documents (about --sample-mb)' },
    { name: 'measure', description: 'encode each sampled document on its own and measure bytes per token' },
  ],
  options: {
    tokenizer: { type: 'string', required: true, short: 't', placeholder: 'DIR', description: 'tokenizer directory (vocab.json + merges.txt [+ lmpipe.json]), or a HuggingFace tokenizer.json' },
    sample: { type: 'string', multiple: true, placeholder: 'GLOB', description: 'text files to sample documents from (repeatable; - for stdin)' },
    separator: { type: 'string', default: '<|endoftext|>', placeholder: 'TOKEN', description: 'document separator in the sample files' },
    sampleMb: { type: 'number', default: 4, min: 0.001, placeholder: 'MB', description: 'about how much text to sample' },
    top: { type: 'int', default: 20, min: 0, max: 1000, description: 'how many longest tokens to list' },
    seed: { type: 'int', default: 0, description: 'seed of the document sample' },
    ...formatOptions,
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
      // Each document is taken with the same probability, so the sample is uniform over documents.
      const p = total > 0 ? Math.min(1, (o.sampleMb * 1e6) / total) : 1;
      const { result, stages } = await runChain(chain(
        readDocuments({ files, chunkBytes: 4 << 20, separator: o.separator, reader: readerOptions(o, o.separator) }),
        sampleDocs({ separator: o.separator, fraction: p, seed: o.seed }),
        // Stdin has no known size: stop once enough is sampled.
        measure(tok, total < 0 ? o.sampleMb * 1e6 : Number.POSITIVE_INFINITY),
      ), { signal: ctx.signal, log: (m) => ctx.log(m), warn: (m) => ctx.warn(m), progress: ctx.progress });
      const { documents, bytes, tokens } = result;
      if (documents === 0) ctx.warn('no document was sampled (empty input?)');
      sample = {
        files: files.length,
        documents,
        bytes,
        tokens,
        bytes_per_token: tokens > 0 ? Math.round((bytes / tokens) * 1000) / 1000 : null,
        stages,
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
