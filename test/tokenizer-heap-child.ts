/**
 * Child process for tokenizer-stream.test.ts (run with --expose-gc): streams
 * a generated multi-megabyte input through `encodeIterableBatches` and
 * prints, as JSON, heapUsed after a full GC at the start and at checkpoints.
 * Args: vocab.json merges.txt megabytes.
 */
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';

const [vocab, merges, mb] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const tok = Tokenizer.fromFiles(vocab, merges, ['<|endoftext|>']);

const words = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'naïve', '日本', '42', "isn't", '🙃', '\n', '<|endoftext|>'];
const total = Number(mb) * 1e6;

/** About `total` bytes of text in 4 KB strings; each string is new (nothing retained by the source). */
function* source(): Generator<string> {
  let made = 0;
  let seed = 1;
  while (made < total) {
    let s = '';
    while (s.length < 4096) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      s += ` ${words[(seed >>> 16) % words.length]}${seed % 7 === 0 ? ` ${seed % 100000}` : ''}`;
    }
    made += s.length;
    yield s;
  }
}

const heap = (): number => {
  gc();
  return process.memoryUsage().heapUsed;
};
// Warm up (JIT, cache fill) before the baseline.
const warm = tok.encodeIterableBatchesSync(source(), 1 << 14);
warm.next();
warm.return();
const base = heap();
const samples: number[] = [];
let tokens = 0;
let batches = 0;
for (const ids of tok.encodeIterableBatchesSync(source(), 1 << 14)) {
  tokens += ids.length;
  if (++batches % 200 === 0) samples.push(heap() - base);
}
process.stdout.write(JSON.stringify({ base, samples, tokens, batches }));
