/**
 * Runs a pipeline inside the test process, as its CLI (`main` in
 * src/pipeline/define.ts) would: parse the arguments, run, and turn a
 * UserError into exit status 2 with one `NAME: error: MESSAGE` line. What the
 * CLI would print on stderr (progress in plain mode, log lines, warnings, the
 * error line) is collected instead of printed, so a refusal can be checked
 * with the same assertions as a real process's, without a process start
 * (1-3 s each, more where TensorFlow.js loads). Any other error is rethrown:
 * the CLI would report it as an internal error (exit 1).
 *
 * What only a real process shows (exit codes, nothing else on stderr such as
 * a stack trace, stdout) stays covered by one real-process case per test
 * file, through runPipeline (test/helpers/cli.ts).
 */
import { ProgressReporter } from '../../src/pipeline/progress.ts';
import { isUserError } from '../../src/pipeline/errors.ts';
import type { OptionSpecs, Pipeline } from '../../src/pipeline/define.ts';
import type { CliResult } from './cli.ts';

export interface InProcessResult extends CliResult {
  /** The summary main() would print ({ pipeline, ok, ...result, warnings? }, without its timings); null on a refusal. */
  summary: Record<string, unknown> | null;
  /** The warnings passed to ctx.warn, in order. */
  warnings: string[];
}

/**
 * Parses and runs `p` on `argv` in this process. `env` is set in
 * process.env for the call (undefined removes a variable) and restored
 * after. The result has the CLI's shape: status 0 with the summary line on
 * stdout (on stderr when the pipeline claims stdout), or status 2 with the
 * error line last on stderr.
 */
export async function runInProcess<O extends OptionSpecs, R extends object>(p: Pipeline<O, R>, argv: readonly string[], opts: { env?: Record<string, string | undefined> } = {}): Promise<InProcessResult> {
  const name = p.spec.name;
  const saved = new Map<string, string | undefined>();
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    saved.set(k, process.env[k]);
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  let stderr = '';
  const warnings: string[] = [];
  let summaryToStderr = false;
  try {
    const opts2 = p.parse(argv);
    if (opts2 === 'help') return { status: 0, stdout: `${p.help()}\n`, stderr: '', summary: null, warnings };
    // As main() does with stderr not a terminal: plain lines, or nothing with --quiet.
    const quiet = (opts2 as { quiet?: boolean }).quiet === true;
    const progress = new ProgressReporter(name, quiet ? 'off' : 'plain', { stream: { write: (s: string) => { stderr += s; return true; } } });
    const result = await p.run(opts2, {
      progress,
      warn: (m) => {
        warnings.push(m);
        progress.log(`warning: ${m}`);
        if (progress.mode === 'off') stderr += `[${name}] warning: ${m}\n`;
      },
      claimStdout: () => { summaryToStderr = true; },
    });
    const summary: Record<string, unknown> = { pipeline: name, ok: true, ...result, ...(warnings.length ? { warnings } : {}) };
    const line = `${JSON.stringify(summary)}\n`;
    if (summaryToStderr) stderr += line;
    return { status: 0, stdout: summaryToStderr ? '' : line, stderr, summary, warnings };
  } catch (e) {
    if (!isUserError(e)) throw e;
    stderr += `${name}: error: ${e.message}\n`;
    return { status: 2, stdout: '', stderr, summary: null, warnings };
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
