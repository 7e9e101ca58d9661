/**
 * Gradients: tfjs autograd (float32) of the mean cross-entropy against
 * central finite differences of the float64 reference loss, for every
 * parameter kind (embeddings, learned positions, norms, attention
 * projections, each FFN kind, LM head, tied head).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backends/select.ts';
import type { ModelConfigInput } from '../src/model/config.ts';
import { ops } from '../src/model/ops.ts';
import { parameterSpecs } from '../src/model/params.ts';
import { Rng } from '../src/util/rng.ts';
import { idsTensor, modelFrom, randomIds, tinyConfig } from './model-helpers.ts';
import { crossEntropy64, lm64 } from './model-reference.ts';
import type { RefParams } from './model-reference.ts';

await selectBackend('cpu');

const CASES: [string, Partial<ModelConfigInput>][] = [
  ['rope + swiglu + pre-norm (default)', {}],
  ['learned positions + gelu + post-norm + tied head', { position: 'learned', ffn: 'gelu', norm: 'post', tie_embeddings: true }],
  ['parallel + silu + pre-norm, no positions', { parallel: true, ffn: 'silu', position: 'none' }],
];

for (const [label, over] of CASES) {
  test(`analytic gradients match float64 finite differences: ${label}`, async () => {
    const config = tinyConfig({ vocab_size: 11, context_length: 6, d_model: 8, num_heads: 2, d_ff: 12, ...over });
    const { model, ref } = modelFrom(config, 77);
    const rows = randomIds(2, config.context_length + 1, config.vocab_size, 78);
    const inputs = rows.map((r) => r.slice(0, -1));
    const targets = rows.flatMap((r) => r.slice(1));
    const x = idsTensor(inputs);
    const y = tf.tensor2d(rows.map((r) => r.slice(1)).flat(), [2, config.context_length], 'int32');
    const vars = model.variables();
    const { value, grads } = tf.variableGrads(() => ops.crossEntropy(model.forward(x), y) as tf.Scalar, vars);
    const loss = (p: RefParams): number => crossEntropy64(lm64(config, p, inputs), targets, config.vocab_size);
    const loss0 = loss(ref);
    assert.ok(Math.abs((await value.data())[0] - loss0) < 1e-5, 'loss value');

    const rng = new Rng(79);
    const h = 1e-5;
    const specs = parameterSpecs(config);
    assert.equal(Object.keys(grads).length, specs.length);
    for (const [i, spec] of specs.entries()) {
      const g = await grads[vars[i].name].data();
      const p = ref.get(spec.name)!;
      let gmax = 0;
      for (const v of g) gmax = Math.max(gmax, Math.abs(v));
      assert.ok(gmax > 0, `${spec.name}: gradient is identically zero`);
      const picks = p.length <= 24 ? Array.from({ length: p.length }, (_, k) => k) : Array.from({ length: 24 }, () => rng.intBelow(p.length));
      for (const k of picks) {
        const keep = p[k];
        p[k] = keep + h;
        const up = loss(ref);
        p[k] = keep - h;
        const down = loss(ref);
        p[k] = keep;
        const numeric = (up - down) / (2 * h);
        const tol = 1e-4 * gmax + 2e-3 * Math.abs(numeric) + 1e-7;
        assert.ok(Math.abs(g[k] - numeric) <= tol, `${spec.name}[${k}]: analytic ${g[k]} vs numeric ${numeric} (tol ${tol})`);
      }
    }
    model.dispose();
  });
}
