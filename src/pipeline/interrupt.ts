/**
 * Interrupts: how a pipeline process sees Ctrl-C, SIGTERM from a scheduler
 * (Slurm, Kubernetes, `timeout`), and the death of the launcher it runs under.
 *
 * Every pipeline turns SIGINT/SIGTERM into an aborted AbortSignal. Pipelines
 * that stop gracefully (train, sweep) finish their current step, checkpoint,
 * print their summary and exit 128 + signal number (130 / 143), so a shell
 * chain `train && eval` does not go on as if training had finished. The
 * others exit at once with that code; their atomic writes leave no partial
 * file under a final name.
 *
 * Launchers. `npx tsx pipelines/x.ts` runs as npm exec → `sh -c tsx …` →
 * tsx → node, and each wrapper has its own way with signals:
 * - npm forwards a signal it receives alone (Kubernetes signals PID 1 only)
 *   to its shell; Debian's dash then dies without passing it on, orphaning
 *   tsx and the pipeline. The repository's `.npmrc` sets `script-shell=bash`,
 *   which execs tsx, so the signal reaches tsx. Where that setting is not in
 *   effect, `watchLauncher` sees the shell between npm and tsx go and stops
 *   the pipeline as if it had received SIGTERM.
 * - tsx relays a signal to its child and expects an acknowledgement (sent by
 *   tsx's preflight code on the child's event loop) within 30 ms, else it
 *   re-sends it and, 30 ms later, SIGKILLs the child. A training step or a
 *   merge loop keeps the event loop busy far longer than that, so under the
 *   tsx CLI the pipeline does not run in tsx's child: `superviseUnderTsx`
 *   makes that child a small supervisor whose event loop is always free (it
 *   acknowledges at once) and runs the pipeline in a grandchild, to which it
 *   forwards signals; the grandchild stops at its next step, and the
 *   supervisor exits with the grandchild's status.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** Set in the environment of a pipeline process started by `superviseUnderTsx`. */
const SUPERVISED = 'LMPIPE_SUPERVISED';

/** The conventional exit status of a process stopped by `signal`. */
export function exitCodeFor(signal: StopSignal): number {
  return signal === 'SIGINT' ? 130 : 143;
}

/**
 * A node:util parseArgs argv with negative numbers bound to their flags:
 * `--lr -1` becomes `--lr=-1` when `--lr` takes a value (parseArgs would
 * otherwise read `-1` as a short option and call the value ambiguous).
 */
export function bindNegativeNumbers(argv: readonly string[], takesValue: (flag: string) => boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = argv[i + 1];
    if (a.startsWith('--') && !a.includes('=') && takesValue(a.slice(2)) && next !== undefined && /^-(\d|\.\d|Infinity\b)/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

interface ProcInfo { ppid: number; argv: string[] }

/** Parent pid and argv of a live process from /proc, or null (gone, or not Linux). */
function procInfo(pid: number): ProcInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
    return { ppid: Number(fields[1]), argv };
  } catch {
    return null;
  }
}

/** The tsx CLI: node running tsx's bin script (`node …/.bin/tsx`, `node …/tsx/dist/cli.mjs`), not `node --import tsx`. */
const isTsxCli = (argv: string[]): boolean => /(^|\/)tsx$|\/tsx\/dist\/cli\.[cm]?js$/.test(argv[1] ?? '');
const isShellC = (argv: string[]): boolean => ['sh', 'dash', 'bash'].includes(basename(argv[0] ?? '')) && argv[1] === '-c';

/**
 * When this process runs as tsx's child under a `sh -c` shell (npx with
 * npm's default script shell), calls `onGone` once if that shell exits
 * before us: the launcher was signalled and could not pass the signal on.
 * Polls /proc every `intervalMs` on an unref'd timer; returns a stop function.
 */
export function watchLauncher(onGone: () => void, intervalMs = 500): () => void {
  const tsx = procInfo(process.ppid);
  if (!tsx || !isTsxCli(tsx.argv)) return () => {};
  const shell = procInfo(tsx.ppid);
  if (!shell || !isShellC(shell.argv)) return () => {};
  const tsxPid = process.ppid;
  const shellPid = tsx.ppid;
  const timer = setInterval(() => {
    const now = procInfo(tsxPid);
    if (now !== null && now.ppid === shellPid) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}


/**
 * In the pipeline process that `superviseUnderTsx` started: calls `onGone`
 * once if the supervisor disappears. tsx SIGKILLs a child that does not
 * acknowledge a relayed signal within 30 ms, which can happen to the idle
 * supervisor too when the machine is loaded; the pipeline then stops as on
 * SIGTERM instead of running on as an orphan. Returns a stop function.
 */
export function watchSupervisor(onGone: () => void, intervalMs = 200): () => void {
  if (process.env[SUPERVISED] !== '1') return () => {};
  const supervisor = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === supervisor) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Under the tsx CLI, runs this same script (same Node flags, same arguments)
 * in a child process and resolves with its exit status, forwarding SIGINT and
 * SIGTERM to it (see the module comment for why). Returns null where no
 * supervisor is needed: not under tsx, or already the supervised child.
 */
export function superviseUnderTsx(script: string, argv: readonly string[]): Promise<number> | null {
  if (process.env[SUPERVISED] === '1') return null;
  const parent = procInfo(process.ppid);
  if (!parent || !isTsxCli(parent.argv)) return null;
  const child = spawn(process.execPath, [...process.execArgv, script, ...argv], {
    stdio: 'inherit',
    env: { ...process.env, [SUPERVISED]: '1' },
  });
  const forward = (signal: StopSignal): void => { if (child.exitCode === null) child.kill(signal); };
  const onInt = (): void => forward('SIGINT');
  const onTerm = (): void => forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const stopWatch = watchLauncher(() => {
    process.stderr.write('lmpipe: the launcher (npx) exited; stopping as on SIGTERM\n');
    forward('SIGTERM');
  });
  return new Promise((resolve) => {
    const done = (code: number): void => {
      stopWatch();
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(code);
    };
    child.on('error', (e) => { process.stderr.write(`lmpipe: cannot start the pipeline process: ${e.message}\n`); done(1); });
    child.on('exit', (code, signal) => done(code ?? 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 9)));
  });
}
