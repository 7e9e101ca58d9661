/**
 * The tokenizer core alone, without Node in the timed loop: builds
 * bench/native-core/core.cc with the addon's own tokenizer sources
 * (native/src/tokenizer/) into out/bench/native-core, hands it the tables of
 * a tokenizer (GPT-2 from the CS336 fixtures by default) and reports, per
 * corpus and code path, cold and warm encode rates, the scan rate and the
 * time the cold run's misses took (cold − warm), in CPU time. Its checksum
 * of the ids is compared with the addon's (the same ids, through Node).
 *
 * With `--together N` each configuration also runs as N copies started at
 * once (alone and together alternate, `--rounds` times), and the median
 * ratio together / alone tells how much N tokenizer cores running at the
 * same time slow each other on this machine — the part of a sharded or
 * multi-worker run's loss that is the core's own, not the pipeline's.
 *
 *   npx tsx bench/native-core.ts [--corpus FILE]... [--tokenizer DIR] [--isa avx512,...]
 *                                [--reps 7] [--max-mb 16] [--cache-log2 18] [--together 2] [--rounds 3]
 *
 * Default corpora: the shared books.txt and tinystories.txt. Needs g++ and
 * the addon (for the check). One JSON line per run on stdout; notes on stderr.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { joinableJunctions } from '../src/tokenizer/bpe-encode.ts';
import { NativeEncoder, nativeTokenizerIsas, setNativeTokenizerIsa, type NativeTokenizerIsa } from '../src/tokenizer/native-tokenizer.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { classRanges } from '../src/tokenizer/unicode-classes.ts';
import { fixturePath, sharedPath } from '../src/util/shared-data.ts';
import { coresAvailable, cpuModel } from './machine.ts';
import { median } from './stats.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCES = join(ROOT, 'native', 'src', 'tokenizer');
const BINARY = join(ROOT, 'out', 'bench', 'native-core');

const { values: args } = parseArgs({
  options: {
    corpus: { type: 'string', multiple: true },
    tokenizer: { type: 'string' },
    isa: { type: 'string' },
    reps: { type: 'string', default: '7' },
    'max-mb': { type: 'string', default: '16' },
    'cache-log2': { type: 'string', default: '18' },
    together: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
  },
});
const log = (s: string): void => { process.stderr.write(`${s}\n`); };

/** The core's JSON line. */
interface CoreResult {
  isa: string; bytes: number; ids: number; checksum: string; cache_log2: number; cache_resets: number;
  cold_mb_s: number; warm_mb_s: number; scan_mb_s: number; miss_ms: number;
}

/** Builds the program when a source is newer than it (or it is missing). */
function build(): void {
  const sources = ['tok_core.cc', 'tok_scalar.cc', 'tok_avx2.cc', 'tok_avx512.cc'].map((f) => join(SOURCES, f));
  const inputs = [join(ROOT, 'bench', 'native-core', 'core.cc'), ...sources, ...readdirSync(SOURCES).filter((f) => /\.(h|inc)$/.test(f)).map((f) => join(SOURCES, f))];
  const built = existsSync(BINARY) ? statSync(BINARY).mtimeMs : 0;
  if (inputs.every((f) => statSync(f).mtimeMs < built)) return;
  mkdirSync(join(ROOT, 'out', 'bench'), { recursive: true });
  log('building out/bench/native-core (g++ -O3, the addon\'s tokenizer sources)');
  // As the addon: no -march; each code path's file sets its own target.
  execFileSync('g++', ['-O3', '-std=c++17', '-I', SOURCES, '-o', BINARY, inputs[0], ...sources, '-lpthread'], { stdio: 'inherit' });
}

/** Writes the tables the core reads under `prefix` (see core.cc). */
function writeTables(tok: Tokenizer, prefix: string): void {
  const spec = tok.encoderSpec();
  const w = (ext: string, a: ArrayBufferView): void => writeFileSync(`${prefix}.${ext}`, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  w('classes', classRanges());
  w('bti', spec.byteToId);
  w('merges', spec.merges);
  w('joinable', joinableJunctions(spec));
  const enc = new TextEncoder();
  const parts = spec.specials.map((s) => enc.encode(s.text));
  w('spb', Uint8Array.from(parts.flatMap((p) => [...p])));
  w('spl', Int32Array.from(parts, (p) => p.length));
  w('spi', Int32Array.from(spec.specials, (s) => s.id));
  writeFileSync(`${prefix}.vocab`, String(spec.vocabSize));
}

/** Runs `copies` instances at once; resolves with their results. */
function runCore(argv: string[], copies: number): Promise<CoreResult[]> {
  return Promise.all(Array.from({ length: copies }, () => new Promise<CoreResult>((resolve, reject) => {
    const p = spawn(BINARY, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as CoreResult) : reject(new Error(`native-core exited ${code}: ${err.trim()}`))));
  })));
}

/** The addon's ids for the same bytes, as the core's checksum (ids · 1000003 over uint64). */
function addonChecksum(tok: Tokenizer, bytes: Uint8Array, isa: NativeTokenizerIsa): string {
  setNativeTokenizerIsa(isa);
  const enc = new NativeEncoder(tok.encoderSpec());
  const ids = enc.encodeUnit(bytes);
  enc.release();
  let h = 0n;
  for (const id of ids) h = (h * 1000003n + BigInt(id)) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

async function main(): Promise<void> {
  const corpora = args.corpus && args.corpus.length > 0 ? args.corpus : [sharedPath('corpora', 'books.txt'), sharedPath('corpora', 'tinystories.txt')];
  const tok = args.tokenizer
    ? Tokenizer.fromDir(args.tokenizer)
    : Tokenizer.fromFiles(fixturePath('cs336', 'fixtures', 'text', 'gpt2_vocab.json'), fixturePath('cs336', 'fixtures', 'text', 'gpt2_merges.txt'), ['<|endoftext|>']);
  const available = nativeTokenizerIsas();
  if (available.length === 0) throw new Error('the native addon is not built (npm run build:native): it is needed for the ids check');
  const isas = args.isa ? args.isa.split(',') as NativeTokenizerIsa[] : available;
  const together = Math.max(1, Number(args.together));
  const rounds = Math.max(1, Number(args.rounds));
  const maxBytes = Math.round(Number(args['max-mb']) * 1e6);
  build();
  const tmp = mkdtempSync(join(tmpdir(), 'lmpipe-native-core-'));
  try {
    const prefix = join(tmp, 'tables');
    writeTables(tok, prefix);
    const cpu = cpuModel();
    const cores = together > 1 ? await coresAvailable() : null;
    log(`${cpu}; code paths ${isas.join(', ')}${cores !== null ? `; cores available ${cores.toFixed(2)}` : ''}`);
    for (const corpus of corpora) {
      for (const isa of isas) {
        const argv = [prefix, corpus, isa, args.reps as string, String(maxBytes), args['cache-log2'] as string];
        const alone: CoreResult[] = [];
        const withOthers: CoreResult[][] = [];
        for (let r = 0; r < (together > 1 ? rounds : 1); r++) {
          alone.push(...(await runCore(argv, 1)));
          if (together > 1) withOthers.push(await runCore(argv, together));
        }
        const first = alone[0];
        // The same bytes the core encoded: its first `bytes` of the corpus.
        const text = readFileSync(corpus).subarray(0, first.bytes);
        const idsEqual = addonChecksum(tok, text, isa) === first.checksum;
        const m = (f: (x: CoreResult) => number, xs: CoreResult[]): number => median(xs.map(f));
        const result = {
          bench: 'native-core', cpu, corpus: basename(corpus), isa: first.isa, bytes: first.bytes, ids: first.ids, ids_equal_addon: idsEqual,
          cache_log2: first.cache_log2, cache_resets: first.cache_resets, clock: 'thread CPU time', reps: Number(args.reps),
          cold_mb_s: m((x) => x.cold_mb_s, alone), warm_mb_s: m((x) => x.warm_mb_s, alone), scan_mb_s: m((x) => x.scan_mb_s, alone), miss_ms: m((x) => x.miss_ms, alone),
          ...(together > 1 ? {
            together, rounds, cores_available: cores,
            together_cold_mb_s: m((x) => x.cold_mb_s, withOthers.flat()),
            together_warm_mb_s: m((x) => x.warm_mb_s, withOthers.flat()),
            // Per round: the copies' median over that round's alone run.
            together_over_alone_cold: median(withOthers.map((g, r) => m((x) => x.cold_mb_s, g) / alone[r].cold_mb_s)),
          } : {}),
        };
        log(`${result.corpus} ${result.isa}: cold ${result.cold_mb_s} warm ${result.warm_mb_s} scan ${result.scan_mb_s} MB/s, misses ${result.miss_ms.toFixed(1)} ms${together > 1 ? `; ${together} at once: cold ${result.together_cold_mb_s} (×${(result as { together_over_alone_cold: number }).together_over_alone_cold.toFixed(2)})` : ''}; ids = addon's: ${idsEqual}`);
        process.stdout.write(`${JSON.stringify(result)}\n`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
