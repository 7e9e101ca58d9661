/**
 * Wires stages into one backpressured pipeline with stream-chain. A stage is
 * an async-generator transform `(source) => AsyncIterable` (stateful stages
 * such as the split stage need the whole source) or a Node Duplex (such as
 * the ordered worker pool). Each link holds at most a few items, so a slow
 * consumer pauses the reader instead of filling memory.
 */
import { Duplex, Readable } from 'node:stream';
import { chainUnchecked } from 'stream-chain';

/** Typed loosely on input so stages declared over their own item type fit. */
export type StageTransform = (source: AsyncIterable<never>) => AsyncIterable<unknown>;
export type Stage = StageTransform | Duplex;

/** Connects `source` through `stages`; iterate the result to pull items. */
export function composeStages<O>(source: AsyncIterable<unknown> | Iterable<unknown>, stages: readonly Stage[]): AsyncIterable<O> {
  const parts: Duplex[] = stages.map((s) =>
    typeof s === 'function' ? Duplex.from(s as unknown as (src: AsyncIterable<unknown>) => AsyncIterable<unknown>) : s,
  );
  const head = Readable.from(source, { objectMode: true, highWaterMark: 1 });
  const pipeline = chainUnchecked([head, ...parts], { writableObjectMode: true, readableObjectMode: true, highWaterMark: 1 });
  return pipeline as unknown as AsyncIterable<O>;
}
