/**
 * Leaderboard mode's fitter on a simulated clock: which steps it times, the
 * length it fits from them, and its refinements from the steps since the
 * warm-up (evaluation time kept apart).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BudgetFitter, fittedSteps } from '../src/train/budget-fit.ts';
import { resolveTrainConfig } from '../src/train/train-config.ts';

const config = resolveTrainConfig({ train_data: 'a.bin', out: 'o', max_steps: 1_000_000, max_minutes: 10, fit_to_budget: true, eval_interval: 100, eval_batches: 20 });

test('times the second half of the warm-up, then fits the remaining budget at that pace', () => {
  const f = BudgetFitter.plan(config, 0)!;
  assert.deepEqual([f.firstTimed, f.lastTimed], [11, 20]);
  // Steps take 1 s while warming up (steps 1-10), then 0.5 s; the clock is in ms.
  let now = 0;
  let fit = null;
  for (let step = 1; step <= 20; step++) {
    f.stepStarted(step, now);
    now += step <= 10 ? 1000 : 500;
    fit = f.stepDone(step, now, config, 600 - now / 1000, true);
    if (step < 20) assert.equal(fit, null, `step ${step}`);
  }
  // 15 s spent, 585 s left at 0.5 s/step, evaluation estimated at 0.4·20/100 of a step.
  assert.equal(fit!.maxSteps, fittedSteps(config, 20, 0.5, 585, true));
  assert.equal(fit!.maxSteps, 20 + Math.floor((0.95 * 585) / (0.5 * 1.08)));
  assert.match(fit!.message ?? '', /fitted the run to the 10-minute budget: 1049 steps at 0\.500 s\/step \(timed over steps 11–20\)/);
});

test('refines every 5% of the run from the steps since the warm-up, evaluation time apart', () => {
  const f = BudgetFitter.plan(config, 0)!;
  let now = 0;
  let c = config;
  let first = null;
  for (let step = 1; step <= 20; step++) {
    f.stepStarted(step, now);
    now += 500;
    first = f.stepDone(step, now, c, 600 - now / 1000, true) ?? first;
  }
  c = { ...c, max_steps: first!.maxSteps, fit_to_budget: false };
  const refitAt = 20 + Math.round(0.05 * first!.maxSteps);
  // After the warm-up the machine slows to 0.6 s/step; one 3 s evaluation at step 50.
  let refit = null;
  let step = 20;
  while (refit === null) {
    step += 1;
    f.stepStarted(step, now);
    now += 600;
    if (step === 50) {
      f.evaluated(3);
      now += 3000;
    }
    refit = f.stepDone(step, now, c, 600 - now / 1000, true);
    if (step > refitAt) assert.fail('no refinement at 5% of the run');
  }
  assert.equal(step, refitAt);
  // Measured: 0.6 s/step; one evaluation costs 3 s, i.e. 3/100/0.6 of a step each.
  const expected = step + Math.floor((0.95 * (600 - now / 1000)) / (0.6 * (1 + 3 / 100 / 0.6)));
  assert.equal(refit.maxSteps, expected);
  assert.ok(refit.maxSteps < c.max_steps, 'a slower machine shortens the run');
});

test('no plan when the session starts at the end of the warm-up', () => {
  assert.equal(BudgetFitter.plan(config, 19), null);
  assert.notEqual(BudgetFitter.plan(config, 17), null);
});
