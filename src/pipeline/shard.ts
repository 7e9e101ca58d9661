/**
 * Which shard of a job this process is: `--shard I/N` (0-based I), or
 * `--shard auto`, which takes the index from the batch engine that started
 * the process. Engines hand out an index, not a cluster: lmpipe runs as one
 * task of a Slurm job array, a Kubernetes Indexed Job, GNU parallel, …, and
 * each task does its part of the input.
 */
import { UserError } from './errors.ts';

/** This process's part of a sharded job. */
export interface Shard {
  /** 0-based. */
  index: number;
  count: number;
  /** Where the index came from: 'flag', or the environment variable(s). */
  source: string;
}

/** The engines `--shard auto` knows, in the order they are tried: index variable, count variable (or none), base of the index. */
const ENGINES: ReadonlyArray<{ name: string; index: string; count: string | null; base: number }> = [
  { name: 'lmpipe', index: 'LMPIPE_SHARD', count: null, base: 0 },
  { name: 'Slurm job array', index: 'SLURM_ARRAY_TASK_ID', count: 'SLURM_ARRAY_TASK_COUNT', base: 0 },
  { name: 'Google Batch', index: 'BATCH_TASK_INDEX', count: 'BATCH_TASK_COUNT', base: 0 },
  { name: 'Kubernetes Indexed Job', index: 'JOB_COMPLETION_INDEX', count: null, base: 0 },
  { name: 'AWS Batch array job', index: 'AWS_BATCH_JOB_ARRAY_INDEX', count: null, base: 0 },
  { name: 'GNU parallel', index: 'PARALLEL_SEQ', count: null, base: 1 },
];

function wholeNumber(text: string, what: string): number {
  if (!/^\d+$/.test(text.trim())) throw new UserError(`${what} is ${JSON.stringify(text)}, not a whole number`);
  return Number(text.trim());
}

function checked(index: number, count: number, source: string): Shard {
  if (count < 1) throw new UserError(`${source}: the shard count must be at least 1, got ${count}`);
  if (index >= count) throw new UserError(`${source}: shard index ${index} is not below the shard count ${count} (indices run from 0 to ${count - 1})`);
  return { index, count, source };
}

/** Parses `I/N` (0-based I). */
export function parseShardSpec(text: string, source: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new UserError(`${source} is ${JSON.stringify(text)}: expected I/N, e.g. 3/16 (0-based index I of N shards), or auto`);
  return checked(Number(m[1]), Number(m[2]), source);
}

/**
 * Resolves `--shard` (`I/N` or `auto`) and `--shard-count` against `env`.
 * auto: LMPIPE_SHARD (I/N); SLURM_ARRAY_TASK_ID (minus SLURM_ARRAY_TASK_MIN)
 * with SLURM_ARRAY_TASK_COUNT; BATCH_TASK_INDEX with BATCH_TASK_COUNT;
 * JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX, PARALLEL_SEQ (1-based),
 * each with `--shard-count`. An index without a known count is an error.
 * Returns null when `spec` is undefined (not sharded).
 */
export function resolveShard(spec: string | undefined, shardCount: number | undefined, env: NodeJS.ProcessEnv = process.env): Shard | null {
  if (spec === undefined) {
    if (shardCount !== undefined) throw new UserError('--shard-count is given without --shard: add --shard auto (or --shard I/N)');
    return null;
  }
  if (spec !== 'auto') {
    const s = parseShardSpec(spec, '--shard');
    if (shardCount !== undefined && shardCount !== s.count) throw new UserError(`--shard ${spec} says ${s.count} shards but --shard-count says ${shardCount}; give one of them`);
    return { ...s, source: 'flag' };
  }
  for (const e of ENGINES) {
    const raw = env[e.index];
    if (raw === undefined || raw === '') continue;
    if (e.name === 'lmpipe') {
      const s = parseShardSpec(raw, e.index);
      if (shardCount !== undefined && shardCount !== s.count) throw new UserError(`${e.index}=${raw} says ${s.count} shards but --shard-count says ${shardCount}`);
      return s;
    }
    let index = wholeNumber(raw, e.index) - e.base;
    if (index < 0) throw new UserError(`${e.index}=${raw}: ${e.name} numbers tasks from ${e.base}`);
    let source = e.index;
    if (e.index === 'SLURM_ARRAY_TASK_ID' && env.SLURM_ARRAY_TASK_MIN) {
      // An array such as --array=1-8 numbers its tasks from 1: shards count from the array's first task.
      index = wholeNumber(raw, e.index) - wholeNumber(env.SLURM_ARRAY_TASK_MIN, 'SLURM_ARRAY_TASK_MIN');
      source = `${e.index}-SLURM_ARRAY_TASK_MIN`;
    }
    let count = shardCount;
    const envCount = e.count ? env[e.count] : undefined;
    if (envCount !== undefined && envCount !== '') {
      const n = wholeNumber(envCount, e.count as string);
      if (count !== undefined && count !== n) throw new UserError(`${e.count}=${envCount} but --shard-count says ${count}; give one of them`);
      count = n;
      source += `/${e.count}`;
    }
    if (count === undefined) {
      throw new UserError(`--shard auto found ${e.index}=${raw} (${e.name}) but no shard count: pass --shard-count N (the number of tasks)`);
    }
    return checked(index, count, source);
  }
  throw new UserError(`--shard auto: no shard index in the environment (looked for ${ENGINES.map((e) => e.index).join(', ')}); pass --shard I/N`);
}

/** `part-00003-of-00016`: the name of shard `index` of `count` (5 digits, wider when needed). */
export function partName(index: number, count: number): string {
  const w = Math.max(5, String(count).length);
  return `part-${String(index).padStart(w, '0')}-of-${String(count).padStart(w, '0')}`;
}
