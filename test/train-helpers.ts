/**
 * Test helpers for the training tests: CS336 conformance files from the
 * shared folder (null when absent, so tests skip; CI=true makes it throw)
 * and numpy-style allclose.
 */
import { readFileSync } from 'node:fs';
import { sharedFileOrSkip } from '../src/util/shared-data.ts';

/** A raw little-endian float32 tensor file under conformance/cs336/tensors. */
export function float32Fixture(...parts: string[]): Float32Array | null {
  const p = sharedFileOrSkip('conformance', 'cs336', 'tensors', ...parts);
  if (!p) return null;
  const buf = readFileSync(p);
  const copy = new Uint8Array(buf.byteLength);
  copy.set(buf);
  return new Float32Array(copy.buffer);
}

/** literal_cases.json, or null when the shared folder is absent. */
export function literalCases(): Record<string, Record<string, unknown>> | null {
  const p = sharedFileOrSkip('conformance', 'cs336', 'literal_cases.json');
  return p ? JSON.parse(readFileSync(p, 'utf8')) as Record<string, Record<string, unknown>> : null;
}

/** numpy assert_allclose: null when |a−e| <= atol + rtol·|e| everywhere, else the worst offender. */
export function allclose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 1e-7): string | null {
  if (actual.length !== expected.length) return `length ${actual.length} != ${expected.length}`;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= atol + rtol * Math.abs(expected[i]))) {
      return `index ${i}: actual ${actual[i]}, expected ${expected[i]}, |diff| ${err} > ${atol + rtol * Math.abs(expected[i])}`;
    }
  }
  return null;
}
