/** Test helpers to run pipelines as a user would, under tsx (Node 20) or plain Node >= 22.18. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/util/shared-data.ts';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Path of a Node >= 22.18 binary for type-stripping checks, or null (skip) outside CI. */
export function node22(): string | null {
  const p = process.env.LMPIPE_NODE22 ?? join(REPO_ROOT, '.ci', 'tools', 'node_modules', '.bin', 'node');
  if (existsSync(p)) return p;
  if (process.env.CI === 'true') throw new Error(`Node 22 binary missing at ${p}: .ci/run installs it (npm install node@22 in .ci/tools)`);
  return null;
}

/** Runs `pipelines/NAME.ts` with tsx (default) or a given node binary that strips types itself. */
export function runPipeline(name: string, args: readonly string[], opts: { node?: string; input?: string | Buffer; cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const script = join(REPO_ROOT, 'pipelines', `${name}.ts`);
  const [cmd, pre] = opts.node ? [opts.node, [] as string[]] : [process.execPath, ['--import', 'tsx']];
  const r = spawnSync(cmd, [...pre, script, ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    input: opts.input,
    env: { ...process.env, ...opts.env },
    maxBuffer: 1 << 30,
  });
  return { status: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

/** Parses the last JSON line of stdout (a pipeline's summary). */
export function summaryOf(r: CliResult): Record<string, unknown> {
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}
