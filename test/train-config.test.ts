/**
 * Training config resolution: defaults, max_tokens → steps, merging of
 * config file and flags, and one-line errors naming the key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../src/pipeline/errors.ts';
import { checkKeys, mergeRaw, resolveTrainConfig, trainConfigToJson } from '../src/train/train-config.ts';
import { fittedSteps } from '../src/train/budget-fit.ts';

const base = { train_data: 'a.bin', out: 'runs/x', max_steps: 1000 };

test('defaults: TinyStories model sizes, lr/10 floor, 1% warmup, AdamW (0.9, 0.95)', () => {
  const c = resolveTrainConfig(base);
  assert.equal(c.model.d_model, 512);
  assert.equal(c.model.d_ff, 1344);
  assert.equal(c.min_lr, c.lr / 10);
  assert.equal(c.warmup_steps, 10);
  assert.deepEqual(c.betas, [0.9, 0.95]);
  assert.equal(c.val_data, null);
  assert.equal(c.max_minutes, null);
  // d_ff follows a changed d_model when not given (SwiGLU: 8/3·d rounded up to 64).
  assert.equal(resolveTrainConfig({ ...base, model: { d_model: 256 } }).model.d_ff, 704);
});

test('max_tokens gives ⌈tokens / (batch · context)⌉ steps; the stored JSON re-resolves to the same config', () => {
  const c = resolveTrainConfig({ train_data: 'a.bin', out: 'o', max_tokens: 1_000_001, batch_size: 10, model: { context_length: 100 } });
  assert.equal(c.max_steps, 1001);
  assert.deepEqual(resolveTrainConfig(trainConfigToJson(c)), { ...c, max_tokens: null });
});

test('fit_to_budget: max_steps is a cap, warm-up defaults to 20 steps, and the run length fits the remaining budget', () => {
  const c = resolveTrainConfig({ ...base, max_steps: 1_000_000, max_minutes: 10, fit_to_budget: true, eval_interval: 100, eval_batches: 20 });
  assert.equal(c.fit_to_budget, true);
  assert.equal(c.warmup_steps, 20);
  assert.equal(resolveTrainConfig({ ...base, max_minutes: 10 }).fit_to_budget, false);
  // 600 s left at 0.5 s/step, evaluation adds 0.4·20/100 = 8%: 0.95·600 / (0.5·1.08) = 1055 more steps.
  assert.equal(fittedSteps(c, 20, 0.5, 600, true), 20 + 1055);
  assert.equal(fittedSteps(c, 20, 0.5, 600, false), 20 + 1140);
  // Capped by max_steps, never below the current step or the warm-up.
  assert.equal(fittedSteps({ ...c, max_steps: 500 }, 20, 0.5, 600, true), 500);
  assert.equal(fittedSteps(c, 20, 0.5, -5, true), 20);
});

test('mergeRaw: later sources win key by key, model objects merge', () => {
  const m = mergeRaw({ lr: 1, model: { d_model: 64, num_heads: 4 } }, { lr: 2, seed: undefined, model: { num_heads: 8 } });
  assert.deepEqual(m, { lr: 2, model: { d_model: 64, num_heads: 8 } });
});

test('errors name the key and the fix', () => {
  const fails = (raw: object, re: RegExp): void => {
    assert.throws(() => resolveTrainConfig(raw as never, 'cfg.json'), (e: unknown) => e instanceof UserError && re.test(e.message) && !e.message.includes('\n'), String(re));
  };
  fails({ ...base, warmup_step: 3 }, /^cfg\.json: unknown key "warmup_step" \(did you mean "warmup_steps"\?\)/);
  fails({ ...base, max_tokens: 5 }, /either "max_steps" or "max_tokens"/);
  fails({ train_data: 'a', out: 'o' }, /"max_steps" \(optimizer steps\) or "max_tokens"/);
  fails({ ...base, lr: -1 }, /"lr" must be at least 0/);
  fails({ ...base, lr: 1e-3, min_lr: 1e-2 }, /"min_lr" \(0\.01\) must not exceed "lr"/);
  fails({ ...base, warmup_steps: 2000 }, /"warmup_steps" \(2000\) must not exceed the run length of 1000 steps/);
  fails({ ...base, betas: [0.9] }, /"betas" must be two numbers in \[0, 1\)/);
  fails({ ...base, batch_size: 2.5 }, /"batch_size" must be an integer/);
  fails({ ...base, model: { d_modle: 3 } }, /cfg\.json: model: unknown model config key "d_modle" \(did you mean "d_model"\?\)/);
  fails({ ...base, model: { d_model: 100, num_heads: 3 } }, /divisible by num_heads/);
  fails({ out: 'o', max_steps: 1 }, /"train_data" is required/);
  fails({ ...base, fit_to_budget: true }, /"fit_to_budget" needs "max_minutes"/);
  fails({ ...base, fit_to_budget: true, max_minutes: 5, warmup_steps: 1 }, /"fit_to_budget" needs "warmup_steps" of at least 2, got 1/);
  fails({ ...base, fit_to_budget: 'yes' }, /"fit_to_budget" must be true or false/);
  assert.throws(() => checkKeys([1, 2], 'x.json'), /expected a JSON object/);
});
