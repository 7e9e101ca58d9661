/**
 * BPE training benchmark: lmpipe against the HuggingFace `tokenizers` trainer
 * on the same input in the same run, each in its own child process so that
 * peak RSS is measured separately (the child reports its own VmHWM).
 *
 *   npx tsx bench/train-bpe.ts [--quick] [--repeat N]
 *
 * Human-readable lines go to stderr, one JSON object to stdout.
 *
 * The HF Node binding trains only with its default BpeTrainer (vocab 30,000,
 * no special tokens), so the head-to-head runs use vocab 30,000 and no
 * special tokens on both sides (ByteLevel pre-tokenizer, no prefix space).
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fixturePath, sharedPath } from '../src/util/shared-data.ts';
import { peakRssMb } from '../src/util/memory.ts';

interface ChildResult {
  engine: 'lmpipe' | 'hf';
  /** Wall time of the training call (reading included). */
  trainMs: number;
  /** Wall time of the whole child process, start-up included. */
  processMs: number;
  maxRssMB: number;
  stats?: Record<string, unknown>;
  vocab?: number;
}

const EOT = '<|endoftext|>';

async function child(engine: string, input: string, vocab: number, specials: string[], workers: string): Promise<void> {
  const t0 = performance.now();
  let out: ChildResult;
  if (engine === 'hf') {
    const tk = (await import('tokenizers')).default;
    const tok = new tk.Tokenizer(tk.BPE.empty());
    tok.setPreTokenizer(tk.byteLevelPreTokenizer(false, true));
    tok.train([input]);
    out = { engine: 'hf', trainMs: performance.now() - t0, processMs: 0, maxRssMB: 0, vocab: tok.getVocabSize(true) };
  } else {
    const { trainBpe } = await import('../src/tokenizer/bpe-train.ts');
    const r = await trainBpe({ input, vocabSize: vocab, specialTokens: specials, workers: workers === 'auto' ? 'auto' : Number(workers) });
    out = { engine: 'lmpipe', trainMs: performance.now() - t0, processMs: 0, maxRssMB: 0, stats: r.stats as unknown as Record<string, unknown>, vocab: r.vocab.size };
  }
  out.maxRssMB = Math.round(peakRssMb());
  process.stdout.write(JSON.stringify(out) + '\n');
}

/** Runs one training in a child process; returns its report. */
function runChild(engine: 'lmpipe' | 'hf', input: string, vocab: number, specials: string[], workers = 'auto'): ChildResult {
  const self = fileURLToPath(import.meta.url);
  const args = [...process.execArgv, self, '--child', engine, input, String(vocab), JSON.stringify(specials), workers];
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const processMs = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${engine} child failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const line = r.stdout.trim().split('\n').pop() as string;
  const res = JSON.parse(line) as ChildResult;
  res.processMs = processMs;
  return res;
}

function mb(path: string): number {
  return statSync(path).size / 1e6;
}

function round(x: number, d = 2): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

function log(line: string): void {
  process.stderr.write(line + '\n');
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const repIdx = process.argv.indexOf('--repeat');
  const repeat = repIdx > 0 ? Number(process.argv[repIdx + 1]) : 1;
  const books = sharedPath('corpora', 'books.txt');
  const tiny = sharedPath('corpora', 'tinystories.txt');
  const corpusEn = fixturePath('cs336', 'fixtures', 'text', 'corpus.en');
  const result: Record<string, unknown> = { machine: { cores: (await import('node:os')).availableParallelism(), node: process.version } };

  // 1. Head-to-head: books.txt, vocab 30,000, no special tokens.
  const h2h: Array<Record<string, number>> = [];
  for (let i = 0; i < repeat; i++) {
    const ours = runChild('lmpipe', books, 30000, []);
    const hf = runChild('hf', books, 30000, []);
    const row = {
      lmpipeTrainMs: Math.round(ours.trainMs), hfTrainMs: Math.round(hf.trainMs),
      lmpipeProcessMs: Math.round(ours.processMs), hfProcessMs: Math.round(hf.processMs),
      lmpipeMaxRssMB: ours.maxRssMB, hfMaxRssMB: hf.maxRssMB,
      lmpipeMBps: round(mb(books) / (ours.trainMs / 1000), 1), hfMBps: round(mb(books) / (hf.trainMs / 1000), 1),
      wallRatio: round(ours.trainMs / hf.trainMs, 3), processRatio: round(ours.processMs / hf.processMs, 3),
      rssRatio: round(ours.maxRssMB / hf.maxRssMB, 3),
      countMs: (ours.stats?.timeMs as { count: number }).count, mergeMs: (ours.stats?.timeMs as { merge: number }).merge,
      mergeCpuMs: (ours.stats?.cpuMs as { merge: number }).merge,
      workers: ours.stats?.workers as number,
    };
    h2h.push(row);
    log(`books.txt vocab 30000: lmpipe ${row.lmpipeTrainMs} ms (count ${row.countMs} + merge ${row.mergeMs}, ${row.workers} workers), `
      + `${row.lmpipeMaxRssMB} MB | HF ${row.hfTrainMs} ms, ${row.hfMaxRssMB} MB | time ratio ${row.wallRatio} (process ${row.processRatio}), RSS ratio ${row.rssRatio}`);
  }
  result.booksVocab30000 = h2h;

  // 2. Counting throughput per thread: read + pretokenize + count, main thread only.
  const single = runChild('lmpipe', books, 256 + 1 + 1, [EOT], '0');
  const countMs = (single.stats?.timeMs as { count: number }).count;
  const countCpuMs = (single.stats?.cpuMs as { count: number }).count;
  result.countThroughput = {
    input: 'books.txt', workers: 0, countMs, countCpuMs,
    MBps: round(mb(books) / (countMs / 1000), 1), MBpsPerCpuSecond: round(mb(books) / (countCpuMs / 1000), 1),
  };
  log(`count phase (read+pretokenize+count), one thread: ${countMs} ms = ${round(mb(books) / (countMs / 1000), 1)} MB/s wall, `
    + `${round(mb(books) / (countCpuMs / 1000), 1)} MB per CPU second`);

  if (!quick) {
    // 3. lmpipe alone: books at 10,000 (with <|endoftext|>), tinystories at 10,000; 2 workers forced too.
    const alone: Record<string, unknown> = {};
    for (const [name, path, vocab, workers] of [
      ['books.txt vocab 10000', books, 10000, 'auto'], ['books.txt vocab 10000, 2 workers', books, 10000, '2'],
      ['tinystories.txt vocab 10000', tiny, 10000, 'auto'],
    ] as const) {
      const r = runChild('lmpipe', path, vocab, [EOT], workers);
      const t = r.stats?.timeMs as { count: number; merge: number };
      alone[name] = { trainMs: Math.round(r.trainMs), processMs: Math.round(r.processMs), countMs: t.count, mergeMs: t.merge, maxRssMB: r.maxRssMB, MBps: round(mb(path) / (r.trainMs / 1000), 1), workers: r.stats?.workers, chunksOnMainThread: r.stats?.chunksOnMainThread };
      log(`${name}: ${Math.round(r.trainMs)} ms (count ${t.count} + merge ${t.merge}), ${r.maxRssMB} MB`);
    }
    result.lmpipeAlone = alone;
  }

  // 4. corpus.en vocab 500 in-process (CS336 speed test: < 1.5 s; target < 0.4 s).
  const { trainBpe } = await import('../src/tokenizer/bpe-train.ts');
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await trainBpe({ input: corpusEn, vocabSize: 500, specialTokens: [EOT] });
    times.push(Math.round(performance.now() - t0));
  }
  result.corpusEnVocab500 = { firstMs: times[0], bestMs: Math.min(...times), runsMs: times };
  log(`corpus.en vocab 500 in-process: first ${times[0]} ms, best ${Math.min(...times)} ms`);

  process.stdout.write(JSON.stringify(result) + '\n');
}

if (process.argv[2] === '--child') {
  const [, , , engine, input, vocab, specials, workers] = process.argv;
  await child(engine, input, Number(vocab), JSON.parse(specials) as string[], workers);
} else {
  await main();
}
