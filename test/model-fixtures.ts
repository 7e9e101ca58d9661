/**
 * Test helper: loads CS336 conformance tensors (raw little-endian files
 * described by tensors/manifest.json) from the shared folder; null when the
 * shared folder is absent (tests skip, except in CI where it throws).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { sharedFileOrSkip, sharedPath } from '../src/util/shared-data.ts';

export interface FixtureTensor {
  shape: number[];
  dtype: 'float32' | 'int32' | 'uint8';
  data: Float32Array | Int32Array | Uint8Array;
}

interface ManifestEntry {
  file: string;
  dtype: 'float32' | 'int32' | 'uint8';
  shape: number[];
  tensors?: Record<string, ManifestEntry>;
  arrays?: Record<string, ManifestEntry>;
}

let manifest: Record<string, Record<string, ManifestEntry>> | null | undefined;

function loadManifest(): Record<string, Record<string, ManifestEntry>> | null {
  if (manifest === undefined) {
    const p = sharedFileOrSkip('conformance', 'cs336', 'tensors', 'manifest.json');
    manifest = p ? JSON.parse(readFileSync(p, 'utf8')) as Record<string, Record<string, ManifestEntry>> : null;
  }
  return manifest;
}

function readEntry(e: ManifestEntry): FixtureTensor {
  const buf = readFileSync(sharedPath('conformance', 'cs336', 'tensors', e.file));
  const bytes = new Uint8Array(buf.byteLength);
  bytes.set(buf);
  const data = e.dtype === 'float32' ? new Float32Array(bytes.buffer)
    : e.dtype === 'int32' ? new Int32Array(bytes.buffer) : bytes;
  return { shape: e.shape, dtype: e.dtype, data };
}

/** A plain tensor fixture, e.g. fixture('v2024', 'in_features'). */
export function fixture(group: string, name: string): FixtureTensor | null {
  const m = loadManifest();
  if (!m) return null;
  const e = m[group]?.[name];
  if (!e) throw new Error(`no fixture ${group}/${name} in manifest.json`);
  return readEntry(e.arrays ? e.arrays.array : e);
}

/** A state-dict fixture: every tensor by key. */
export function stateDict(group: string, name: string): Map<string, FixtureTensor> | null {
  const m = loadManifest();
  if (!m) return null;
  const e = m[group]?.[name];
  if (!e?.tensors) throw new Error(`no state dict ${group}/${name} in manifest.json`);
  const out = new Map<string, FixtureTensor>();
  for (const [k, v] of Object.entries(e.tensors)) out.set(k, readEntry(v));
  return out;
}

/** The §4 literal cases (softmax, cross-entropy, GELU, SiLU, ...). */
export function literalCases(): Record<string, Record<string, unknown>> | null {
  const p = sharedFileOrSkip('conformance', 'cs336', 'literal_cases.json');
  return p ? JSON.parse(readFileSync(p, 'utf8')) as Record<string, Record<string, unknown>> : null;
}

/**
 * numpy assert_allclose: |a − e| <= atol + rtol·|e| element-wise. Returns
 * the worst violation description or null.
 */
export function allclose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 1e-7): string | null {
  if (actual.length !== expected.length) return `length ${actual.length} != ${expected.length}`;
  let worst = -Infinity;
  let worstAt = -1;
  let maxErr = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= atol + rtol * Math.abs(expected[i]))) {
      const excess = Number.isNaN(err) ? Infinity : err - (atol + rtol * Math.abs(expected[i]));
      if (excess > worst) { worst = excess; worstAt = i; }
    }
    if (err > maxErr || Number.isNaN(err)) maxErr = err;
  }
  return worstAt < 0 ? null : `mismatch at ${worstAt}: actual ${actual[worstAt]} expected ${expected[worstAt]} (max abs err ${maxErr}, atol ${atol}, rtol ${rtol})`;
}

/** Largest absolute difference. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A fixture as a tfjs tensor (uint8 masks become bool). */
export const fixtureTensor = (f: FixtureTensor): Tensor => tf.tensor(f.data, f.shape, f.dtype === 'uint8' ? 'bool' : f.dtype);

/** Asserts shape equality and numpy-style allclose against a fixture. */
export async function expectClose(actual: Tensor, expected: FixtureTensor, atol: number, rtol = 1e-7): Promise<void> {
  assert.deepEqual(actual.shape, expected.shape);
  const err = allclose(await actual.data(), expected.data, atol, rtol);
  assert.equal(err, null, err ?? '');
}

/** A fixture state dict as named tensors, keys optionally prefixed. */
export function weightsOf(sd: Map<string, FixtureTensor>, prefix = ''): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, v] of sd) out[prefix + k] = fixtureTensor(v);
  return out;
}
