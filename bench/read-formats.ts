/**
 * Reader benchmark: decoding throughput of each input format of
 * `readInputs` (src/stages/formats/) on the same ~50 MB of text, with the
 * zstd and gzip CLIs decompressing the same files in the same run as peers.
 *
 *   npx tsx bench/read-formats.ts [--input FILE] [--reps N] [--tmp DIR]
 *
 * The input (default: the shared corpus books.txt, 50 MB, read only) is
 * copied as text, .gz (gzip -6), .zst (zstd -3), .jsonl and .jsonl.zst (one
 * record per `<|endoftext|>`-separated document) and .parquet
 * (hyparquet-writer, SNAPPY and GZIP pages, 10 documents per row group) into
 * a temporary directory (removed at the end). Each format is read whole with
 * 4 MB chunks (chunks are counted, not touched) and each CLI decompresses
 * into `wc -c`, interleaved, `--reps` times (default 3); the best wall time
 * is reported, with the CPU time of that run (the machine is shared: MB per
 * CPU-second is the steadier figure). The JSON Lines formats are read twice,
 * with the native extraction core (where the addon is built) and with the
 * TypeScript path alone (reader option `engine: 'ts'`); their rows say which
 * `engine` ran. The `jsonl-memory` rows time the JSON Lines reader alone
 * (`jsonlDocuments` over the .jsonl's bytes in memory, 256 kB pieces, no
 * file, decoder or chunking). Prints one JSON line per format and per CLI,
 * then one with the CPU model; progress goes to stderr.
 *
 * `--encode` adds decompression + encode end to end: the encode pipeline
 * (`pipelines/encode.ts`, 2 workers, a 10,000-token BPE trained on the input
 * first, or `--tokenizer DIR`) run on each format's file in a child process,
 * and as the peer in the same rep, `zstd -dc corpus.txt.zst | encode --input -`.
 * The token files of text, .gz, .zst and the zstd pipe must be identical,
 * as must those of the record formats among themselves; `mb_per_s` is the
 * decoded text bytes per second of the pipeline (its summary's wall time),
 * `process_s` the child's whole run with start-up.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { readInputs, resolveInputs } from '../src/stages/read-inputs.ts';
import { jsonlDocuments } from '../src/stages/formats/jsonl.ts';
import { sharedPath } from '../src/util/shared-data.ts';
import { cpuModel } from './machine.ts';

const SEP = '<|endoftext|>';
const { values: args } = parseArgs({ options: { input: { type: 'string' }, reps: { type: 'string', default: '3' }, tmp: { type: 'string' }, encode: { type: 'boolean', default: false }, tokenizer: { type: 'string' } } });
const input = args.input ?? sharedPath('corpora/books.txt');
const reps = Math.max(1, Number(args.reps));
const dir = mkdtempSync(join(args.tmp ?? tmpdir(), 'lmpipe-bench-read-'));
const log = (m: string): void => { process.stderr.write(m + '\n'); };

try {
  let text: Buffer | undefined = readFileSync(input);
  let docs = text.toString('utf8').split(SEP);
  if (docs.at(-1) === '') docs.pop();
  log(`input ${input}: ${text.length} bytes, ${docs.length} documents; making the copies in ${dir}`);
  const files: Record<string, string> = {
    text: join(dir, 'corpus.txt'), gz: join(dir, 'corpus.txt.gz'), zst: join(dir, 'corpus.txt.zst'),
    jsonl: join(dir, 'corpus.jsonl'), 'jsonl.zst': join(dir, 'corpus.jsonl.zst'), 'parquet-snappy': join(dir, 'snappy.parquet'), 'parquet-gzip': join(dir, 'gzip.parquet'),
  };
  writeFileSync(files.text, text);
  execFileSync('gzip', ['-k', '-6', files.text]);
  execFileSync('zstd', ['-q', '-3', files.text, '-o', files.zst]);
  writeFileSync(files.jsonl, docs.map((d, i) => JSON.stringify({ id: i, text: d })).join('\n') + '\n');
  execFileSync('zstd', ['-q', '-3', files.jsonl, '-o', files['jsonl.zst']]);
  for (const codec of ['SNAPPY', 'GZIP'] as const) {
    const buf = parquetWriteBuffer({
      columnData: [{ name: 'id', data: docs.map((_, i) => i), type: 'INT32' }, { name: 'text', data: docs, type: 'STRING' }],
      codec, compressors: { GZIP: (b: Uint8Array) => gzipSync(b) }, rowGroupSize: 10,
    });
    writeFileSync(files[`parquet-${codec.toLowerCase()}`], new Uint8Array(buf));
  }
  text = undefined;
  docs = [];

  // Interleaved: every rep runs each format and then each CLI, so that peers share the machine's conditions (it is shared).
  type Best = { s: number; cpu: number; bytes: number; counts: Record<string, number> };
  const best = new Map<string, Best>();
  const keep = (key: string, r: Best): void => { const b = best.get(key); if (!b || r.s < b.s) best.set(key, r); };
  const clis = [['zstd -dc', files.zst], ['zstd -dc', files['jsonl.zst']], ['gzip -dc', files.gz]] as const;
  // JSON Lines rows run with each engine: `auto` (native where it loads) and `ts`.
  const engines = (format: string): readonly ('auto' | 'ts' | null)[] => (format.startsWith('jsonl') ? ['auto', 'ts'] : [null]);
  const rowKey = (format: string, engine: 'auto' | 'ts' | null): string => (engine === null ? format : `${format} ${engine}`);
  const jsonlBytes = readFileSync(files.jsonl);
  const timed = async (key: string, body: (count: (k: string, n: number) => void) => Promise<number>): Promise<void> => {
    const counts: Record<string, number> = {};
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const bytes = await body((k, n) => { counts[k] = (counts[k] ?? 0) + n; });
    const s = (performance.now() - t0) / 1000;
    const cu = process.cpuUsage(c0);
    keep(key, { s, cpu: (cu.user + cu.system) / 1e6, bytes, counts });
  };
  for (let rep = 0; rep < reps; rep++) {
    for (const [format, file] of Object.entries(files)) {
      for (const engine of engines(format)) {
        await timed(rowKey(format, engine), async (count) => {
          let bytes = 0;
          for await (const c of readInputs(await resolveInputs([file]), 4 << 20, { separator: SEP, count, ...(engine === 'ts' ? { engine } : {}) })) bytes += c.data.length;
          return bytes;
        });
      }
    }
    for (const engine of engines('jsonl-memory')) {
      await timed(rowKey('jsonl-memory', engine), async (count) => {
        async function* pieces(): AsyncGenerator<Uint8Array> { for (let at = 0; at < jsonlBytes.length; at += 256 << 10) yield jsonlBytes.subarray(at, at + (256 << 10)); }
        let bytes = 0;
        for await (const p of jsonlDocuments(pieces(), files.jsonl, { textField: 'text', separator: Buffer.from(SEP), skipBadRecords: false, count, ...(engine === 'ts' ? { engine } : {}) })) {
          for (const q of (p instanceof Uint8Array ? [p] : p)) bytes += q.length;
        }
        return bytes;
      });
    }
    for (const [tool, file] of clis) {
      const t0 = performance.now();
      const out = spawnSync('bash', ['-c', `${tool} "$1" | wc -c && times`, 'bash', file], { encoding: 'utf8' });
      const s = (performance.now() - t0) / 1000;
      if (out.status !== 0) throw new Error(`${tool} failed: ${out.stderr}`);
      // wc's count, then `times`: the shell's user and system times, then its children's ("0m0.161s 0m0.020s").
      const lines = out.stdout.trim().split('\n');
      const child = lines[2].split(/\s+/).map((t) => { const m = /(\d+)m([\d.]+)s/.exec(t); return m ? Number(m[1]) * 60 + Number(m[2]) : 0; });
      keep(`${tool} ${file}`, { s, cpu: child[0] + child[1], bytes: Number(lines[0]), counts: {} });
    }
    log(`rep ${rep + 1}/${reps} done`);
  }
  for (const [format, file] of [...Object.entries(files), ['jsonl-memory', files.jsonl]]) {
    for (const engine of engines(format)) {
      const b = best.get(rowKey(format, engine))!;
      // The engine that ran: native when the native core read documents (the addon loaded), else ts.
      const ran = engine === null ? {} : { engine: (b.counts.jsonl_native_documents ?? 0) > 0 ? 'native' : 'ts' };
      console.log(JSON.stringify({
        format, ...ran, file_bytes: statSync(file).size, decoded_bytes: b.bytes, read_bytes: b.counts.compressed_bytes ?? statSync(file).size,
        seconds: +b.s.toFixed(3), cpu_seconds: +b.cpu.toFixed(3),
        decoded_mb_per_s: +(b.bytes / 1e6 / b.s).toFixed(1), decoded_mb_per_cpu_s: +(b.bytes / 1e6 / b.cpu).toFixed(1), reps,
      }));
    }
  }
  for (const [tool, file] of clis) {
    const b = best.get(`${tool} ${file}`)!;
    console.log(JSON.stringify({
      tool, file: file.split('/').pop(), file_bytes: statSync(file).size, decoded_bytes: b.bytes,
      seconds: +b.s.toFixed(3), cpu_seconds: +b.cpu.toFixed(3), decoded_mb_per_s: +(b.bytes / 1e6 / b.s).toFixed(1), reps,
      note: 'wall time includes starting bash and the CLI; cpu_seconds is the CLI and wc',
    }));
  }
  if (args.encode) await encodeRows(files);
  console.log(JSON.stringify({ cpu: cpuModel(), cores: cpus().length, node: process.version, load_avg_1m: +(await import('node:os')).loadavg()[0].toFixed(2) }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** Decompression + encode end to end per format, and `zstd -dc | encode --input -` as the peer, interleaved over the reps. */
async function encodeRows(files: Record<string, string>): Promise<void> {
  const root = new URL('..', import.meta.url).pathname;
  const node = [process.execPath, '--import', 'tsx'];
  let tok = args.tokenizer;
  if (!tok) {
    tok = join(dir, 'tok');
    log('training a 10,000-token tokenizer on the input for the encode rows');
    execFileSync(node[0], [...node.slice(1), join(root, 'pipelines/train-bpe.ts'), '-i', files.text, '--vocab-size', '10000', '-o', tok, '--quiet'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const encodeCmd = (inputArg: string, out: string): string => [...node, join(root, 'pipelines/encode.ts'), '-t', tok as string, '-i', inputArg, '-o', out, '--workers', '2', '--quiet'].map((a) => `'${a}'`).join(' ');
  const cases: [string, string][] = [
    ...['text', 'gz', 'zst', 'jsonl', 'jsonl.zst', 'parquet-snappy'].map((f): [string, string] => [f, encodeCmd(files[f], join(dir, `enc-${f}.bin`))]),
    ['zstd -dc | encode --input -', `zstd -dc '${files.zst}' | ${encodeCmd('-', join(dir, 'enc-pipe.bin'))}`],
  ];
  const best = new Map<string, { s: number; process: number; summary: Record<string, unknown> }>();
  for (let rep = 0; rep < reps; rep++) {
    for (const [name, cmd] of cases) {
      const t0 = performance.now();
      const r = spawnSync('bash', ['-c', `set -o pipefail; ${cmd}`], { encoding: 'utf8', cwd: root });
      const processS = (performance.now() - t0) / 1000;
      if (r.status !== 0) throw new Error(`${name}: encode failed: ${r.stderr.slice(-2000)}`);
      const summary = JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
      const s = Number(summary.wall_s);
      const b = best.get(name);
      if (!b || s < b.s) best.set(name, { s, process: processS, summary });
    }
    log(`encode rep ${rep + 1}/${reps} done`);
  }
  const same = (names: string[]): boolean => names.every((n) => readFileSync(join(dir, `enc-${n}.bin`)).equals(readFileSync(join(dir, `enc-${names[0]}.bin`))));
  if (!same(['text', 'gz', 'zst', 'pipe'])) throw new Error('text, .gz, .zst and the zstd pipe gave different token files');
  if (!same(['jsonl', 'jsonl.zst', 'parquet-snappy'])) throw new Error('the record formats gave different token files');
  const peer = best.get('zstd -dc | encode --input -')!;
  const peerRate = Number(peer.summary.bytes) / 1e6 / peer.s;
  for (const [name] of cases) {
    const b = best.get(name)!;
    const rate = Number(b.summary.bytes) / 1e6 / b.s;
    console.log(JSON.stringify({
      encode: name, decoded_bytes: b.summary.bytes, tokens: b.summary.tokens, seconds: +b.s.toFixed(3), process_s: +b.process.toFixed(3),
      mb_per_s: +rate.toFixed(1), x_zstd_pipe: +(rate / peerRate).toFixed(2), peak_rss_mb: b.summary.peak_rss_mb, workers: 2, engine: b.summary.engine, reps,
    }));
  }
}
