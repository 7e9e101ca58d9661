/**
 * The sweep's REPORT.md (pure): what was swept, one table row per run
 * (overrides, status, steps, tokens, wall-clock, throughput, validation
 * losses, divergence), the best run, the reasons of diverged and failed
 * runs, and the plots written next to it.
 */
import { formatDuration, formatQuantity } from '../pipeline/progress.ts';
import { parameterBreakdown } from '../accounting/parameters.ts';
import type { ModelConfig } from '../model/config.ts';
import type { TrainConfig } from '../train/train-config.ts';
import { formatValue } from './grid.ts';
import type { PlannedRun, SweepPlan } from './plan.ts';
import type { RunRecord } from './state.ts';

/** A plot written next to REPORT.md. */
export interface ReportPlot {
  title: string;
  png: string;
  svg: string;
}

export interface ReportInput {
  plan: SweepPlan;
  records: Record<string, RunRecord | undefined>;
  plots: readonly ReportPlot[];
  /** The command that reproduces the sweep. */
  command: string;
}

function loss(x: number | null | undefined): string {
  return x === null || x === undefined ? '–' : x.toFixed(4);
}

/** The loss a run is ranked by: the whole-validation-set loss of its final weights when measured, else its last validation loss. */
export function rankingLoss(r: RunRecord | undefined): number | null {
  if (r === undefined || r.status === 'diverged' || r.status === 'failed') return null;
  return r.final_eval_loss ?? r.val_loss;
}

/** The best run by rankingLoss, or null when none has a validation loss. */
export function bestRun(plan: SweepPlan, records: Record<string, RunRecord | undefined>): { name: string; loss: number } | null {
  let best: { name: string; loss: number } | null = null;
  for (const run of plan.runs) {
    const l = rankingLoss(records[run.name]);
    if (l !== null && (best === null || l < best.loss)) best = { name: run.name, loss: l };
  }
  return best;
}

function overridesText(run: PlannedRun): string {
  const parts = Object.entries(run.overrides).map(([k, v]) => `${k}=${formatValue(v)}`);
  return parts.length ? parts.map((p) => `\`${p}\``).join(' ') : '(base)';
}

/** A number at 6 significant digits without float noise (3e-4/10 → 0.00003, not 0.000030000000000000003). */
function num(x: number): string {
  return String(Number(x.toPrecision(6)));
}

/** One line describing the model and schedule every run starts from. */
export function baseDescription(c: TrainConfig): string {
  const m: ModelConfig = c.model;
  const arch = `d_model ${m.d_model}, ${m.num_layers} layers, ${m.num_heads} heads, d_ff ${m.d_ff}, context ${m.context_length}, vocab ${m.vocab_size}; ${m.ffn}, ${m.norm}-norm, position ${m.position}${m.parallel ? ', parallel blocks' : ''}${m.tie_embeddings ? ', tied embeddings' : ''}`;
  const sched = `batch ${c.batch_size}, lr ${num(c.lr)} → ${num(c.min_lr)} (cosine, ${c.warmup_steps} warmup steps), weight decay ${num(c.weight_decay)}, grad clip ${num(c.grad_clip)}, AdamW β ${c.betas.map(num).join('/')}`;
  const budget = `${c.max_steps} steps (${formatQuantity(c.max_steps * c.batch_size * m.context_length, 'tokens')})${c.max_minutes !== null ? `, capped at ${c.max_minutes} min wall-clock` : ''}`;
  return `Base model: ${arch}.\nBase training: ${sched}; ${budget}; eval every ${c.eval_interval} steps on ${c.eval_batches} batches; backend ${c.backend}; seed ${c.seed}.`;
}

function tableRow(run: PlannedRun, r: RunRecord | undefined, showFinalEval: boolean): string {
  const params = formatQuantity(parameterBreakdown(run.config.model).total, 'items');
  if (r === undefined) {
    return `| ${run.name} | ${overridesText(run)} | ${params} | pending | – | – | – | – | – | – | – |${showFinalEval ? ' – |' : ''} – |`;
  }
  const steps = r.step === r.max_steps ? `${r.step}` : `${r.step}/${r.max_steps}`;
  const best = r.best_val_loss === null ? '–' : `${loss(r.best_val_loss)} (${r.best_step})`;
  const cells = [
    run.name, overridesText(run), params, r.status, steps, formatQuantity(r.tokens, 'items'), formatDuration(r.elapsed_s),
    formatQuantity(r.tokens_per_s, 'items'), r.peak_rss_mb != null ? `${Math.round(r.peak_rss_mb)} MB` : '–', loss(r.val_loss), best,
  ];
  if (showFinalEval) cells.push(loss(r.final_eval_loss));
  cells.push(r.status === 'diverged' ? 'yes' : 'no');
  return `| ${cells.join(' | ')} |`;
}

/** The whole REPORT.md text. */
export function reportMarkdown(input: ReportInput): string {
  const { plan, records, plots } = input;
  const spec = plan.spec;
  const counts = new Map<string, number>();
  for (const run of plan.runs) {
    const s = records[run.name]?.status ?? 'pending';
    counts.set(s, (counts.get(s) ?? 0) + 1);
  }
  const showFinalEval = plan.runs.some((r) => records[r.name]?.final_eval_loss != null) || (spec.final_eval && plan.runs.some((r) => r.config.val_data !== null));
  const lines: string[] = [`# Sweep: ${spec.name}`, ''];
  if (spec.description) lines.push(spec.description, '');
  lines.push(`Command: \`${input.command}\``, '');
  lines.push(`Runs: ${plan.runs.length} (${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}).`, '');
  if (plan.base !== null) lines.push(`${baseDescription(plan.base).split('\n').join('  \n')}  \nEach run changes only its overrides.`, '');
  const header = ['run', 'overrides', 'params', 'status', 'steps', 'tokens', 'wall-clock', 'tokens/s', 'peak RSS', 'final val loss', 'best val loss (step)'];
  if (showFinalEval) header.push('full val loss');
  header.push('diverged');
  lines.push(`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`);
  for (const run of plan.runs) lines.push(tableRow(run, records[run.name], showFinalEval));
  lines.push('');
  lines.push('*final val loss*: the last validation loss the trainer logged (on `eval_batches` batches, at the run\'s last step); '
    + (showFinalEval ? '*full val loss*: the final weights on the whole validation file (`pipelines/eval.ts`); ' : '')
    + '*tokens/s*: training tokens over training wall-clock, evaluation included; *peak RSS*: the trainer process\'s peak resident memory.', '');
  const best = bestRun(plan, records);
  if (best) lines.push(`Best run: **${best.name}** (${showFinalEval && records[best.name]?.final_eval_loss != null ? 'full' : 'final'} validation loss ${best.loss.toFixed(4)}).`, '');
  const notes = plan.runs.filter((r) => records[r.name]?.reason);
  if (notes.length) {
    lines.push('Diverged and failed runs:', '');
    for (const r of notes) lines.push(`- ${r.name} (${records[r.name]!.status}): ${records[r.name]!.reason}`);
    lines.push('');
  }
  for (const p of plots) lines.push(`## ${p.title}`, '', `![${p.title}](${p.png})`, '', `(vector version: \`${p.svg}\` in the sweep directory)`, '');
  return `${lines.join('\n').trimEnd()}\n`;
}
