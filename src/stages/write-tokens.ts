/**
 * write: the sink of the encode pipelines. Appends each unit's ids to a
 * `TokenFileWriter` (a temp file renamed at `close`, or stdout) in order.
 * On an error or an interrupt the writer's temporary is removed and a
 * previous token file stays as it was. Each unit's memory, once written,
 * goes back to the reader (`recycleChunk`).
 */
import type { Sink } from '../pipeline/stage.ts';
import type { TokenFileWriter } from '../tokenizer/token-file.ts';
import type { Ids } from './items.ts';
import { recycleChunk } from './formats/chunks.ts';

/** What the write sink saw: input bytes and ids written, and when half the input was through (for steady-state rates). */
export interface WriteResult {
  bytes: number;
  tokens: number;
  /** Time (performance.now) and bytes when at least `halfBytes` were written; null when never reached. */
  half: { t: number; bytes: number } | null;
}

export interface WriteTokensOptions {
  /** Record the time when this many input bytes are through (the summary's steady-state rate). */
  halfBytes?: number;
}

/** The write sink. The writer is not closed here: the pipeline closes it once the whole chain succeeded. */
export function writeTokens(writer: TokenFileWriter, o: WriteTokensOptions = {}): Sink<Ids, WriteResult> {
  return {
    name: 'write',
    description: 'append the ids to --out (temp file renamed at the end) and write its .json sidecar',
    async consume(source, ctx) {
      const r: WriteResult = { bytes: 0, tokens: 0, half: null };
      try {
        for await (const u of source) {
          if (ctx.signal.aborted) throw new Error('interrupted');
          await writer.write(u.ids, { sourceBytes: u.bytes, fromEncoder: true });
          r.bytes += u.bytes;
          r.tokens += u.ids.length;
          // The write is done (synchronous) and the ids are this sink's: their memory can hold the next read.
          recycleChunk(u.ids.buffer);
          if (r.half === null && o.halfBytes !== undefined && o.halfBytes > 0 && r.bytes >= o.halfBytes) r.half = { t: performance.now(), bytes: r.bytes };
        }
      } catch (e) {
        writer.abort();
        throw e;
      }
      return r;
    },
  };
}
