/**
 * Test helpers for the training tests: CS336 conformance files (in the
 * repository under fixtures/cs336; the v2024 tensors only in ../shared, as
 * extras) and numpy-style allclose.
 */
import { readFileSync } from 'node:fs';
import { fixturePath, sharedFileOrSkip } from '../src/util/shared-data.ts';

function readFloat32(path: string): Float32Array {
  const buf = readFileSync(path);
  const copy = new Uint8Array(buf.byteLength);
  copy.set(buf);
  return new Float32Array(copy.buffer);
}

/** A raw little-endian float32 tensor file under fixtures/cs336/tensors (e.g. 'adamw', 'W0.bin'). */
export function float32Fixture(...parts: string[]): Float32Array {
  return readFloat32(fixturePath('cs336', 'tensors', ...parts));
}

/** Extras: a float32 tensor file under ../shared/conformance/cs336/tensors (the v2024 ones), or null when absent. */
export function sharedFloat32Fixture(...parts: string[]): Float32Array | null {
  const p = sharedFileOrSkip('conformance', 'cs336', 'tensors', ...parts);
  return p ? readFloat32(p) : null;
}

/** literal_cases.json from fixtures/cs336. */
export function literalCases(): Record<string, Record<string, unknown>> {
  return JSON.parse(readFileSync(fixturePath('cs336', 'literal_cases.json'), 'utf8')) as Record<string, Record<string, unknown>>;
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
