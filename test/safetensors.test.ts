/**
 * safetensors: round trip, the independently written fixture (numpy, by
 * hand from the spec: every dtype, reordered data, python JSON spacing),
 * and clear errors for malformed files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, halfToFloat, readSafetensors, writeSafetensors } from '../src/io/safetensors.ts';
import type { TensorToWrite } from '../src/io/safetensors.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { REPO_ROOT } from '../src/util/shared-data.ts';

const FIXTURES = join(REPO_ROOT, 'fixtures', 'safetensors');

function parseExpected(v: number | string): number {
  return v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v === 'nan' ? NaN : (v as number);
}

test('reads the numpy-written fixture: F32, F16, BF16, F64, I32, I64, empty and scalar tensors, metadata', () => {
  const got = readSafetensors(join(FIXTURES, 'mixed_dtypes.safetensors'));
  const expected = JSON.parse(readFileSync(join(FIXTURES, 'mixed_dtypes.expected.json'), 'utf8')) as Record<string, { dtype: string; shape: number[]; values: (number | string)[] }>;
  assert.deepEqual(got.metadata, expected.__metadata__);
  const names = Object.keys(expected).filter((k) => k !== '__metadata__');
  assert.deepEqual([...got.tensors.keys()].sort(), names.sort());
  for (const name of names) {
    const e = expected[name];
    const t = got.tensors.get(name)!;
    assert.equal(t.dtype, e.dtype, name);
    assert.deepEqual(t.shape, e.shape, name);
    assert.equal(t.data instanceof Int32Array, e.dtype === 'I32' || e.dtype === 'I64', name);
    assert.deepEqual(Array.from(t.data), e.values.map(parseExpected), name);
  }
});

test('write → read round trip keeps names, order, shapes, bit patterns and metadata; data is 8-byte aligned', () => {
  const specials = Float32Array.from([0, -0, 1.5, -3.25e-39, 3.4028234663852886e38, Infinity, -Infinity, NaN, 1e-45]);
  const tensors = new Map<string, TensorToWrite>([
    ['z.last', { dtype: 'F32', shape: [3, 3], data: specials }],
    ['a.ids', { dtype: 'I32', shape: [2, 2], data: Int32Array.from([0, -1, 2147483647, -2147483648]) }],
    ['empty', { dtype: 'F32', shape: [0], data: new Float32Array(0) }],
    ['ünïcode', { dtype: 'F32', shape: [], data: Float32Array.from([7]) }],
  ]);
  const bytes = encodeSafetensors(tensors, { note: 'x' });
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + headerLen) % 8, 0);
  const back = decodeSafetensors(bytes);
  assert.deepEqual(back.metadata, { note: 'x' });
  assert.deepEqual([...back.tensors.keys()], [...tensors.keys()]);
  for (const [k, t] of tensors) {
    const b = back.tensors.get(k)!;
    assert.deepEqual(b.shape, t.shape);
    assert.deepEqual(new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength), new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), k);
  }
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-st-'));
  try {
    writeSafetensors(join(dir, 'x.safetensors'), tensors);
    assert.deepEqual(readSafetensors(join(dir, 'x.safetensors')).tensors.get('a.ids')!.data, tensors.get('a.ids')!.data);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('half-precision decoding is exact for every bit pattern class', () => {
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x7bff), 65504);
  assert.equal(halfToFloat(0x0001), 2 ** -24);
  assert.equal(halfToFloat(0x03ff), 1023 * 2 ** -24);
  assert.equal(halfToFloat(0x0400), 2 ** -14);
  assert.ok(Object.is(halfToFloat(0x8000), -0));
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.equal(halfToFloat(0xfc00), -Infinity);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
});

function withHeader(header: unknown, dataBytes: number, pad = 0): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

test('malformed files give one-line UserErrors naming the file and the problem', () => {
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(5), /too short/],
    [(() => { const b = new Uint8Array(16); new DataView(b.buffer).setBigUint64(0, 1000n, true); return b; })(), /header length 1000 exceeds the file/],
    [(() => { const b = withHeader({}, 0); b[8] = 0x5b; return b; })(), /header is not valid UTF-8 JSON|header must be a JSON object/],
    [withHeader({ w: { dtype: 'F8', shape: [1], data_offsets: [0, 1] } }, 1), /tensor "w" has dtype "F8"; supported: F32, F16, BF16, F64, I32, I64/],
    [withHeader({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /invalid shape \[-1\]/],
    [withHeader({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, 4), /spans 4 bytes but F32\[2\] needs 8/],
    [withHeader({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4), /invalid data_offsets \[0,8\] for a 4-byte data buffer/],
    [withHeader({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8), /hole at bytes 0\.\.4/],
    [withHeader({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8), /overlaps/],
    [withHeader({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 8), /4 trailing bytes/],
    [withHeader({ __metadata__: { n: 1 } }, 0), /__metadata__ must be an object of string values/],
    [(() => { const b = withHeader({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, 8); new DataView(b.buffer).setBigInt64(b.length - 8, 2n ** 40n, true); return b; })(), /outside the int32 range/],
  ];
  for (const [bytes, re] of cases) {
    assert.throws(() => decodeSafetensors(bytes, 'bad.safetensors'), (e: unknown) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match((e as Error).message, /^bad\.safetensors: /);
      assert.match((e as Error).message, re);
      assert.ok(!(e as Error).message.includes('\n'));
      return true;
    });
  }
  assert.throws(() => readSafetensors('/nonexistent/x.safetensors'), /cannot read \/nonexistent\/x\.safetensors: ENOENT/);
  // A header padded with spaces (as writers do) is fine.
  assert.equal(decodeSafetensors(withHeader({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 4, 5)).tensors.get('a')!.data[0], 0);
});
