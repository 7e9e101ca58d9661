/**
 * merge-tokens: concatenates the parts of a sharded encode (a directory of
 * `part-i-of-n.bin`, a glob or a manifest) into one token file, for tools
 * that want a single `train.bin`. Checks first that all N parts are there,
 * complete (each with its sidecar), from one tokenizer and of one dtype.
 * When the parts have document indexes (`encode --doc-index`), so does the
 * merged file: made again from the ids as they are copied, so it equals the
 * parts' indexes shifted and joined, and the one-process run's index.
 * (train, eval and the batch sampler read a directory of parts directly.)
 *
 *   npx tsx pipelines/merge-tokens.ts out/data/train-parts --out out/data/train.bin
 */
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { TokenFileWriter, documentIndexSummary, indexPath, notATokenFile, notATokenSidecar, sidecarPath } from '../src/tokenizer/token-file.ts';
import { TokenFileReader, tokenFileMeta } from '../src/tokenizer/token-reader.ts';
import { checkSameData, resolveTokenFiles } from '../src/train/token-dataset.ts';
import { guardOutputs } from '../src/util/output-guard.ts';

/** Ids copied per read. */
const COPY_IDS = 1 << 22;

export const mergeTokens = definePipeline({
  name: 'merge-tokens',
  description: 'concatenate the parts of a sharded encode into one token file (all parts present, one tokenizer and dtype)',
  positional: 'parts',
  stages: [
    { name: 'check', description: 'every part of the job is there with its sidecar; one tokenizer hash and dtype' },
    { name: 'copy', description: 'append the parts\' ids in order to --out (temp file renamed at the end) and write its sidecar (and its document index when the parts have one)' },
  ],
  options: {
    parts: { type: 'string', multiple: true, required: true, placeholder: 'DIR|GLOB', description: 'a directory of parts (encode --shard --out DIR), a glob, or a .manifest; also as plain arguments' },
    out: { type: 'string', required: true, short: 'o', placeholder: 'FILE', description: 'the merged token file' },
    force: { type: 'boolean', description: 'replace an existing --out that is not a token file' },
  },
  examples: ['npx tsx pipelines/merge-tokens.ts out/data/train-parts --out out/data/train.bin'],
  async run(o, ctx) {
    const files = o.parts.flatMap((p) => resolveTokenFiles(p, 'parts'));
    guardOutputs([
      { path: o.out, flag: '--out', type: 'file', what: 'token file', previous: notATokenFile },
      { path: sidecarPath(o.out), flag: '--out', type: 'file', what: 'token file sidecar', previous: notATokenSidecar },
      { path: indexPath(o.out), flag: '--out', type: 'file', what: 'document index' },
    ], files.map((f) => ({ path: f, what: 'a part' })), { force: o.force, forceFlag: { flag: '--force', effect: 'it is replaced' }, log: (m) => ctx.log(m) });
    const metas = files.map((f) => {
      const m = tokenFileMeta(f);
      if (m === null) throw new UserError(`${f} has no sidecar (${sidecarPath(f)}): the part is incomplete or not from pipelines/encode.ts; rerun its shard`);
      return m;
    });
    checkSameData(files, 'parts');
    const first = metas[0];
    const separatorId = first.documentIndex?.separatorId ?? null;
    metas.forEach((m, k) => {
      const id = m.documentIndex?.separatorId ?? null;
      if (id !== separatorId) {
        const has = (x: number | null): string => (x === null ? 'has no document index' : `has a document index after id ${x}`);
        throw new UserError(`${files[k]} ${has(id)} but ${files[0]} ${has(separatorId)}; encode all parts with the same --doc-index and --separator (rerun the shards that differ)`);
      }
    });
    const writer = new TokenFileWriter(o.out, {
      vocabSize: first.vocabSize, tokenizerHash: first.tokenizerHash,
      specialTokens: Object.entries(first.specialTokens).map(([text, id]) => ({ text, id })),
      ...(separatorId !== null ? { documentIndex: { separatorId } } : {}),
    });
    const task = ctx.progress.task('copy', 'items', files.length);
    try {
      for (let k = 0; k < files.length; k++) {
        const r = new TokenFileReader(files[k]);
        try {
          for (let at = 0; at < r.length; at += COPY_IDS) {
            const ids = r.readIds(at, Math.min(COPY_IDS, r.length - at));
            // Ids straight from encode's checked parts: no range check again.
            await writer.write(ids, { sourceBytes: at + COPY_IDS >= r.length ? metas[k].sourceBytes : 0, fromEncoder: true });
          }
        } finally {
          r.close();
        }
        task.increment(1);
      }
    } catch (e) {
      writer.abort();
      throw e;
    }
    task.stop();
    const meta = await writer.close();
    return {
      out: o.out, parts: files.length, tokens: meta.tokens, source_bytes: meta.sourceBytes, dtype: meta.dtype, tokenizer_hash: meta.tokenizerHash,
      ...documentIndexSummary(o.out, meta),
    };
  },
});

await runIfMain(mergeTokens, import.meta.url);
