/**
 * train's flags, derived from the config schemas (src/train/train-flags.ts):
 * per-key model flags (`--num-layers 2 --d-model 64`) reach the resolved
 * config over a config file and --model; the precedence stored config
 * (--resume) < --config < flags; --help shows every schema key with the
 * schema's default; unknown or mistyped flags get the nearest flag; the
 * flag names of the docs and tests keep working.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train } from '../pipelines/train.ts';
import { MODEL_CONFIG_KEYS } from '../src/model/config.ts';
import { defaultText, optionKey } from '../src/pipeline/config-flags.ts';
import { flagName } from '../src/pipeline/define.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { TRAIN_CONFIG_FILE, TRAIN_CONFIG_SCHEMA, TRAIN_MODEL_DEFAULT_TEXT, resolveTrainConfig } from '../src/train/train-config.ts';
import type { TrainConfig } from '../src/train/train-config.ts';
import { layeredTrainConfig } from '../src/train/train-flags.ts';
import { runPipeline } from './helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'lmpipe-train-flags-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const model = { vocab_size: 257, context_length: 16, d_model: 32, num_layers: 1, num_heads: 2, tie_embeddings: true };
const cfgPath = join(dir, 'cfg.json');
writeFileSync(cfgPath, JSON.stringify({ model, train_data: 'train.bin', batch_size: 4, max_steps: 6, lr: 2e-3, seed: 5, out: join(dir, 'run') }));

/** The config train would run with for these arguments (nothing is read but the configs). */
function resolved(args: string[]): TrainConfig {
  const o = train.parse(args);
  assert.notEqual(o, 'help');
  if (o === 'help') throw new Error('unreachable');
  const { raw, source } = layeredTrainConfig(o);
  return resolveTrainConfig(raw, source);
}

/** The --help line of a flag. */
function helpLine(flag: string): string {
  const line = train.help().split('\n').find((l) => new RegExp(`--(\\[no-\\])?${flag}\\b(?![-\\w])`).test(l));
  assert.ok(line, `--help lists --${flag}`);
  return line;
}

test('per-key model flags reach the resolved config over the config file and --model', () => {
  const c = resolved(['--config', cfgPath, '--num-layers', '2', '--d-model', '64']);
  assert.equal(c.model.num_layers, 2);
  assert.equal(c.model.d_model, 64);
  assert.equal(c.model.vocab_size, 257, 'keys not given keep the file\'s');
  assert.equal(c.model.num_heads, 2);
  assert.equal(c.model.d_ff, 192, 'd_ff follows the new d_model (SwiGLU rule)');
  assert.equal(c.lr, 2e-3);
  // A per-key flag wins over the same key in --model; --model wins over the file.
  const m = resolved(['--config', cfgPath, '--model', '{"d_model":48,"num_heads":4}', '--d-model', '64', '--ffn', 'gelu', '--rope-theta', '500', '--dropout', '0.1']);
  assert.deepEqual([m.model.d_model, m.model.num_heads, m.model.ffn, m.model.d_ff, m.model.rope_theta, m.model.dropout], [64, 4, 'gelu', 256, 500, 0.1]);
  // Per-key flags alone make the model (the other sizes take the defaults).
  const alone = resolved(['--train-data', 'x.bin', '--max-steps', '1', '--out', join(dir, 'o'), '--vocab-size', '300', '--context-length', '8']);
  assert.deepEqual([alone.model.vocab_size, alone.model.context_length, alone.model.d_model], [300, 8, 512]);
  // Booleans are negatable, so a flag can turn a config's true off.
  assert.equal(resolved(['--config', cfgPath]).model.tie_embeddings, true);
  assert.equal(resolved(['--config', cfgPath, '--no-tie-embeddings']).model.tie_embeddings, false);
  assert.equal(resolved(['--config', cfgPath, '--parallel']).model.parallel, true);
  assert.throws(() => train.parse(['--config', cfgPath, '--parallel', '--no-parallel']), (e: unknown) => e instanceof UserError && /--parallel and --no-parallel exclude each other/.test(e.message));
});

test('precedence: stored config (--resume) < --config file < flags', () => {
  const run = join(dir, 'stored');
  mkdirSync(run);
  writeFileSync(join(run, TRAIN_CONFIG_FILE), JSON.stringify({ model: { ...model, d_model: 48, num_heads: 4 }, train_data: 'train.bin', batch_size: 8, max_steps: 10, lr: 1e-2, seed: 1, eval_interval: 7, out: run }));
  const stored = resolved(['--resume', run]);
  assert.deepEqual([stored.lr, stored.batch_size, stored.seed, stored.eval_interval, stored.max_steps, stored.model.d_model, stored.out], [1e-2, 8, 1, 7, 10, 48, run]);
  const overFile = resolved(['--resume', run, '--config', cfgPath]);
  assert.deepEqual([overFile.lr, overFile.batch_size, overFile.seed, overFile.eval_interval, overFile.max_steps, overFile.model.d_model], [2e-3, 4, 5, 7, 6, 32]);
  assert.equal(overFile.out, run, 'a resumed run stays in its directory');
  const overFlags = resolved(['--resume', run, '--config', cfgPath, '--lr', '3e-3', '--seed', '9', '--d-model', '64', '--max-steps', '12']);
  assert.deepEqual([overFlags.lr, overFlags.seed, overFlags.batch_size, overFlags.eval_interval, overFlags.model.d_model, overFlags.max_steps], [3e-3, 9, 4, 7, 64, 12]);
  // A run length given as tokens replaces the stored steps.
  assert.deepEqual([resolved(['--resume', run, '--max-tokens', '640']).max_steps, resolved(['--resume', run, '--max-tokens', '640']).max_tokens], [5, 640]);
  // Without --resume: the file, then the flags; unset keys take the schema defaults.
  const plain = resolved(['--config', cfgPath, '--batch-size', '2', '--betas', '0.8,0.9']);
  assert.deepEqual([plain.batch_size, plain.lr, plain.betas, plain.grad_clip, plain.min_lr], [2, 2e-3, [0.8, 0.9], TRAIN_CONFIG_SCHEMA.grad_clip.default, 2e-4]);
  assert.throws(() => resolved(['--config', cfgPath, '--betas', '0.9']), /invalid value '0.9' for --betas: expected two numbers, e\.g\. 0\.9,0\.95/);
  assert.throws(() => resolved(['--resume', run, '--out', join(dir, 'elsewhere')]), /differs from --resume/);
});

test('--help lists every schema key as a flag with the schema\'s default', () => {
  for (const [key, spec] of Object.entries(TRAIN_CONFIG_SCHEMA)) {
    const line = helpLine(flagName(optionKey(key)));
    assert.ok(line.includes(spec.description), `--${flagName(optionKey(key))}: the schema's description`);
    const shown = defaultText(spec);
    if (shown !== undefined) assert.ok(line.includes(`default: ${shown}`), `${line}\nshows default: ${shown}`);
    else assert.ok(!line.includes('default:'), `${line}\nhas no default`);
  }
  for (const key of MODEL_CONFIG_KEYS) {
    const line = helpLine(flagName(optionKey(key)));
    assert.ok(line.includes(`default: ${TRAIN_MODEL_DEFAULT_TEXT[key]}`), `${line}\nshows default: ${TRAIN_MODEL_DEFAULT_TEXT[key]}`);
  }
  // The real values, spelled out: the help does not hard-code them, the schema does.
  for (const [flag, shown] of [['batch-size', '32'], ['lr', '0.001'], ['min-lr', 'lr/10'], ['betas', '0.9,0.95'], ['grad-clip', '1'], ['eval-interval', '100'], ['eval-batches', '20'], ['checkpoint-interval', '500'], ['seed', '0'], ['backend', 'auto'], ['d-model', '512'], ['num-layers', '4'], ['num-heads', '16'], ['vocab-size', '10000'], ['context-length', '256'], ['rope-theta', '10000'], ['position', 'rope']] as const) {
    const line = helpLine(flag);
    assert.ok(line.includes(`default: ${shown}`), line);
    assert.equal(line.match(/default/g)?.length, 1, `one default on ${line}`);
  }
  assert.match(helpLine('tie-embeddings'), /--\[no-\]tie-embeddings/);
});

test('an unknown or mistyped flag names the nearest flag; bad model values are refused in one line', () => {
  const refused = (args: string[], re: RegExp): void => {
    assert.throws(() => train.parse(args), (e: unknown) => e instanceof UserError && re.test(e.message) && !e.message.includes('\n'), `${args.join(' ')}: ${re}`);
  };
  refused(['--config', cfgPath, '--num-layer', '2'], /unknown option --num-layer \(did you mean --num-layers\?\)/);
  refused(['--config', cfgPath, '--d_model', '64'], /unknown option --d_model \(did you mean --d-model\?\)/);
  refused(['--config', cfgPath, '--tie-embedding'], /did you mean --tie-embeddings\?/);
  refused(['--config', cfgPath, '--position', 'rop'], /invalid value 'rop' for --position: expected one of rope, learned, none \(did you mean 'rope'\?\)/);
  refused(['--config', cfgPath, '--d-model', '0'], /invalid value 0 for --d-model: must be at least 1/);
  refused(['--config', cfgPath, '--num-heads', '2.5'], /expected an integer/);
  // Through the CLI: exit 2, one line.
  const r = runPipeline('train', ['--config', cfgPath, '--num-layer', '2']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim(), 'train: error: unknown option --num-layer (did you mean --num-layers?); see --help');
});

test('the flag names of the docs and tests keep working', () => {
  const args = [
    '--train-data', 't.bin', '--val-data', 'v.bin', '--batch-size', '3', '--max-steps', '7', '--lr', '0.01', '--min-lr', '0.001',
    '--warmup-steps', '2', '--weight-decay', '0.2', '--betas', '0.85,0.9', '--grad-clip', '0.5', '--eval-interval', '4', '--eval-batches', '2',
    '--checkpoint-interval', '5', '--seed', '11', '--backend', 'cpu', '--max-minutes', '3', '--fit-to-budget', '--out', join(dir, 'names'),
    '--tokenizer', join(dir, 'tok'), '--model', JSON.stringify(model),
  ];
  const c = resolved(args);
  assert.deepEqual(
    [c.train_data, c.val_data, c.batch_size, c.max_steps, c.lr, c.min_lr, c.warmup_steps, c.weight_decay, c.betas, c.grad_clip, c.eval_interval, c.eval_batches, c.checkpoint_interval, c.seed, c.backend, c.max_minutes, c.fit_to_budget, c.out, c.tokenizer, c.model.d_model],
    ['t.bin', 'v.bin', 3, 7, 0.01, 0.001, 2, 0.2, [0.85, 0.9], 0.5, 4, 2, 5, 11, 'cpu', 3, true, join(dir, 'names'), join(dir, 'tok'), 32],
  );
  assert.equal(resolved(['--train-data', 't.bin', '--max-tokens', '640', '--batch-size', '4', '--model', JSON.stringify(model), '--out', join(dir, 'x')]).max_steps, 10);
  const o = train.parse(['--resume', join(dir, 'r'), '--stop-at-step', '3', '-c', cfgPath, '-o', join(dir, 'r')]);
  assert.notEqual(o, 'help');
  if (o !== 'help') assert.deepEqual([o.resume, o.stopAtStep, o.config, o.out], [join(dir, 'r'), 3, cfgPath, join(dir, 'r')]);
  assert.throws(() => train.parse(['--config', cfgPath, '--backend', 'cpux']), /invalid value 'cpux' for --backend/);
});
