/**
 * Test helper: loads CS336 conformance tensors (raw little-endian files
 * described by tensors/manifest.json). The v2025 snapshots and inputs, the
 * AdamW inputs and literal_cases.json are in the repository
 * (fixtures/cs336/); the v2024 tensors (the 2024 upstream repository states
 * no license) are read from ../shared only, for extra tests that are left
 * out when it is absent (see hasV2024Fixtures).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { fixturePath, sharedFileOrSkip, sharedPath } from '../src/util/shared-data.ts';

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

type Manifest = Record<string, Record<string, ManifestEntry>>;
interface TensorSource { dir: string; manifest: Manifest }

let repoSource: TensorSource | undefined;
let sharedSource: TensorSource | null | undefined;

/** The group's tensors: v2024 from ../shared (null when absent), every other group from fixtures/cs336/tensors. */
function sourceOf(group: string): TensorSource | null {
  if (group !== 'v2024') {
    if (!repoSource) {
      const dir = fixturePath('cs336', 'tensors');
      repoSource = { dir, manifest: JSON.parse(readFileSync(fixturePath('cs336', 'tensors', 'manifest.json'), 'utf8')) as Manifest };
    }
    return repoSource;
  }
  if (sharedSource === undefined) {
    const p = sharedFileOrSkip('conformance', 'cs336', 'tensors', 'manifest.json');
    sharedSource = p ? { dir: sharedPath('conformance', 'cs336', 'tensors'), manifest: JSON.parse(readFileSync(p, 'utf8')) as Manifest } : null;
  }
  return sharedSource;
}

/**
 * Whether the v2024 tensors are available (../shared present). Register the
 * v2024 extra tests only when true; with CI=true a missing shared folder throws.
 */
export function hasV2024Fixtures(): boolean {
  return sourceOf('v2024') !== null;
}

function entryOf(group: string, name: string): { dir: string; e: ManifestEntry } {
  const src = sourceOf(group);
  if (!src) throw new Error(`CS336 ${group} fixtures are only in ../shared (not found); check hasV2024Fixtures() first`);
  const e = src.manifest[group]?.[name];
  if (!e) throw new Error(`no fixture ${group}/${name} in manifest.json`);
  return { dir: src.dir, e };
}

function readEntry(dir: string, e: ManifestEntry): FixtureTensor {
  const buf = readFileSync(join(dir, e.file));
  const bytes = new Uint8Array(buf.byteLength);
  bytes.set(buf);
  const data = e.dtype === 'float32' ? new Float32Array(bytes.buffer)
    : e.dtype === 'int32' ? new Int32Array(bytes.buffer) : bytes;
  return { shape: e.shape, dtype: e.dtype, data };
}

/** A plain tensor fixture, e.g. fixture('v2025_inputs', 'q'); a v2024 one throws unless hasV2024Fixtures(). */
export function fixture(group: string, name: string): FixtureTensor {
  const { dir, e } = entryOf(group, name);
  return readEntry(dir, e.arrays ? e.arrays.array : e);
}

/** A state-dict fixture: every tensor by key. */
export function stateDict(group: string, name: string): Map<string, FixtureTensor> {
  const { dir, e } = entryOf(group, name);
  if (!e.tensors) throw new Error(`${group}/${name} is not a state dict in manifest.json`);
  const out = new Map<string, FixtureTensor>();
  for (const [k, v] of Object.entries(e.tensors)) out.set(k, readEntry(dir, v));
  return out;
}

/** The §4 literal cases (softmax, cross-entropy, GELU, SiLU, ...), from fixtures/cs336. */
export function literalCases(): Record<string, Record<string, unknown>> {
  return JSON.parse(readFileSync(fixturePath('cs336', 'literal_cases.json'), 'utf8')) as Record<string, Record<string, unknown>>;
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
