/**
 * Signals lose no finished work: under every documented launcher, SIGINT or
 * SIGTERM — to the process group (a terminal's Ctrl-C, Slurm, `timeout`) or
 * to the top process alone (Kubernetes signals PID 1) — stops training after
 * the current step with a checkpoint of that step, prints the summary with
 * the reason, and exits 130/143. Real processes, real signals.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/util/shared-data.ts';
import { checkpointStep } from '../src/train/run.ts';
import { node22 } from './helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'lmpipe-signals-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const data = join(dir, 'train.bin');
{
  const ids = new Uint16Array(100_000);
  for (let i = 0; i < ids.length; i++) ids[i] = (i * 7919) % 256;
  writeFileSync(data, ids);
}
const model = JSON.stringify({ vocab_size: 256, context_length: 32, d_model: 32, num_layers: 1, num_heads: 2, d_ff: 64 });

interface Launcher { name: string; cmd: string; args: string[]; env?: NodeJS.ProcessEnv }
const n22 = node22();
const launchers: Launcher[] = [
  { name: 'npx tsx', cmd: 'npx', args: ['tsx'] },
  { name: 'tsx', cmd: join(REPO_ROOT, 'node_modules', '.bin', 'tsx'), args: [] },
  { name: 'node --import tsx', cmd: process.execPath, args: ['--import', 'tsx'] },
  ...(n22 ? [{ name: 'node (type stripping)', cmd: n22, args: [] }] : []),
];

interface Outcome { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; out: string }

/** Starts a long training run, waits until it has logged a few steps, signals it, and waits for the exit. */
async function interruptTraining(l: Launcher, signal: 'SIGINT' | 'SIGTERM', target: 'group' | 'top', tag: string): Promise<Outcome> {
  const out = join(dir, tag);
  const child = spawn(l.cmd, [...l.args, 'pipelines/train.ts', '--train-data', data, '--model', model, '--batch-size', '4',
    '--max-steps', '1000000', '--checkpoint-interval', '1000000', '--backend', 'cpu', '--out', out, '--quiet'], {
    cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...l.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  const metrics = join(out, 'metrics.jsonl');
  const started = Date.now();
  while (!(existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 3)) {
    if (child.exitCode !== null || Date.now() - started > 120_000) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const pid = child.pid as number;
  process.kill(target === 'group' ? -pid : pid, signal);
  const killer = setTimeout(() => { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } }, 60_000);
  const [code, sig] = await exited;
  clearTimeout(killer);
  try { process.kill(-pid, 'SIGKILL'); } catch { /* the group is gone: nothing left running */ }
  return { code, signal: sig, stdout, stderr, out };
}

function assertStoppedCleanly(o: Outcome, signal: 'SIGINT' | 'SIGTERM', what: string): void {
  // npm re-raises the signal on itself once its child has exited: a shell reports that as 128 + signal number too.
  const status = o.code ?? (o.signal === 'SIGINT' ? 130 : o.signal === 'SIGTERM' ? 143 : -1);
  assert.equal(status, signal === 'SIGINT' ? 130 : 143, `${what}: exit status\n${o.stderr}`);
  assert.ok(o.stdout.trim() !== "", `${what}: no summary on stdout; stderr:\n${o.stderr}`);
  const summary = JSON.parse(o.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
  assert.equal(summary.stopped, 'interrupted', what);
  // Under tsx a loaded machine can delay the supervisor's acknowledgement past tsx's 30 ms, and tsx
  // then SIGKILLs it: the pipeline sees its launcher gone and stops as on SIGTERM (interrupt.ts).
  assert.ok(summary.interrupted === signal || (what.includes('tsx') && summary.interrupted === 'SIGTERM'), `${what}: ${String(summary.interrupted)}`);
  assert.equal(summary.ok, false, what);
  const step = summary.step as number;
  assert.ok(step >= 3, `${what}: step ${step}`);
  assert.equal(checkpointStep(o.out), step, `${what}: the checkpoint holds the last finished step`);
  const logged = readFileSync(join(o.out, 'metrics.jsonl'), 'utf8').trim().split('\n').length;
  assert.equal(logged, step, `${what}: every finished step is logged`);
}

// Each launcher once, each signal and target at least twice; npx (npm + tsx, the README's launcher) in three ways.
const [npx, tsx, nodeTsx, plainNode] = launchers;
const cases: Array<[Launcher, 'SIGINT' | 'SIGTERM', 'group' | 'top']> = [
  [npx, 'SIGTERM', 'top'], [npx, 'SIGINT', 'group'], [npx, 'SIGINT', 'top'],
  [tsx, 'SIGTERM', 'top'], [nodeTsx, 'SIGTERM', 'group'],
  ...(plainNode ? [[plainNode, 'SIGINT', 'top'] as [Launcher, 'SIGINT', 'top']] : []),
];

describe('signals under every launcher', { concurrency: 3 }, () => {
  let n = 0;
  for (const [l, signal, target] of cases) {
    test(`${l.name}: ${signal} to the ${target === 'group' ? 'process group' : 'top process alone'} stops after a step with a checkpoint, exit ${signal === 'SIGINT' ? 130 : 143}`, async () => {
      const o = await interruptTraining(l, signal, target, `run-${n++}`);
      assertStoppedCleanly(o, signal, `${l.name} ${signal} ${target}`);
    });
  }

  test('npx under a shell that drops the signal (dash): the orphaned trainer still stops cleanly', async () => {
    // npm exits as soon as its shell dies; the trainer notices its launcher is gone and checkpoints
    // ('close' waits for the trainer too: it holds the same stdout).
    const o = await interruptTraining({ ...npx, env: { npm_config_script_shell: 'sh' } }, 'SIGTERM', 'top', 'dash');
    assertStoppedCleanly(o, 'SIGTERM', 'npx under dash');
  });
});
