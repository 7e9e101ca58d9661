/**
 * safetensors reader/writer (format of huggingface/safetensors):
 *
 *   [8 bytes]  N, unsigned 64-bit little-endian: header length
 *   [N bytes]  UTF-8 JSON object: for each tensor
 *              "name": {"dtype": "F32", "shape": [d0, …], "data_offsets": [begin, end]}
 *              plus an optional "__metadata__": {string: string}; the writer
 *              pads it with spaces so the data starts 8-byte aligned
 *   [rest]     the data buffer: every tensor row-major little-endian at
 *              [begin, end) relative to the buffer start; tensors tile the
 *              buffer exactly (no holes, no overlap)
 *
 * Reading converts F32/F16/BF16/F64 to Float32Array and I32/I64 to
 * Int32Array (I64 values must fit in int32). Writing supports F32 and I32.
 * Malformed files give one-line UserErrors naming the file and the problem.
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../pipeline/errors.ts';
import { writeFileAtomic } from '../util/atomic.ts';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I32' | 'I64';

const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I32: 4, I64: 8 };

/** Largest header accepted (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/** A tensor as read: values converted to float32 or int32. */
export interface DecodedTensor {
  /** The dtype stored in the file. */
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Int32Array;
}

/** A tensor to write. */
export interface TensorToWrite {
  dtype: 'F32' | 'I32';
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface SafetensorsContents {
  tensors: Map<string, DecodedTensor>;
  metadata: Record<string, string> | null;
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** IEEE half → float (exact; subnormals, ±0, ±inf and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function fail(source: string, msg: string): never {
  throw new UserError(`${source}: ${msg}`);
}

function convert(bytes: Uint8Array, begin: number, dtype: SafetensorsDtype, n: number, name: string, source: string): Float32Array | Int32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset + begin, n * DTYPE_BYTES[dtype]);
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    }
    case 'F64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(n);
      const word = new Uint32Array(1);
      const asFloat = new Float32Array(word.buffer);
      for (let i = 0; i < n; i++) { word[0] = view.getUint16(2 * i, true) << 16; out[i] = asFloat[0]; }
      return out;
    }
    case 'I32': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt32(4 * i, true);
      return out;
    }
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = view.getBigInt64(8 * i, true);
        if (v < -2147483648n || v > 2147483647n) fail(source, `tensor "${name}" (I64) holds ${v} at index ${i}, outside the int32 range this reader supports`);
        out[i] = Number(v);
      }
      return out;
    }
  }
}

/** Parses safetensors bytes. `source` names the file in error messages. */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors data'): SafetensorsContents {
  if (bytes.length < 8) fail(source, `file is ${bytes.length} bytes, too short for a safetensors header (truncated or not a safetensors file)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = dv.getBigUint64(0, true);
  if (headerLen > BigInt(Math.min(MAX_HEADER_BYTES, bytes.length - 8))) {
    fail(source, `header length ${headerLen} exceeds the file (${bytes.length} bytes) or the ${MAX_HEADER_BYTES}-byte limit (truncated or not a safetensors file)`);
  }
  const n = Number(headerLen);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(source, `header is not valid UTF-8 JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail(source, 'header must be a JSON object');
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  let metadata: Record<string, string> | null = null;
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
        fail(source, '__metadata__ must be an object of string values');
      }
      metadata = { ...(raw as Record<string, string>) };
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (info === null || typeof info !== 'object') fail(source, `entry "${name}" must be an object with dtype, shape and data_offsets`);
    const dtype = info.dtype;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) {
      fail(source, `tensor "${name}" has dtype ${JSON.stringify(dtype)}; supported: ${Object.keys(DTYPE_BYTES).join(', ')}`);
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(source, `tensor "${name}" has an invalid shape ${JSON.stringify(shape)} (expected a list of non-negative integers)`);
    }
    const off = info.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isSafeInteger(o) && o >= 0) || off[0] > off[1] || off[1] > dataLen) {
      fail(source, `tensor "${name}" has invalid data_offsets ${JSON.stringify(off)} for a ${dataLen}-byte data buffer`);
    }
    const want = numel(shape) * DTYPE_BYTES[dtype as SafetensorsDtype];
    if (off[1] - off[0] !== want) {
      fail(source, `tensor "${name}" spans ${off[1] - off[0]} bytes but ${dtype}[${shape.join(', ')}] needs ${want}`);
    }
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin: off[0] as number, end: off[1] as number });
  }
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of byOffset) {
    if (e.begin !== cursor) {
      fail(source, e.begin < cursor
        ? `tensor "${e.name}" overlaps the previous tensor (offset ${e.begin} < ${cursor})`
        : `data buffer has a hole at bytes ${cursor}..${e.begin} before tensor "${e.name}"`);
    }
    cursor = e.end;
  }
  if (cursor !== dataLen) fail(source, `data buffer has ${dataLen - cursor} trailing bytes not covered by any tensor`);
  const tensors = new Map<string, DecodedTensor>();
  for (const e of entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: convert(bytes, dataStart + e.begin, e.dtype, numel(e.shape), e.name, source) });
  }
  return { tensors, metadata };
}

/** Serializes tensors (in the given order) and optional string metadata. */
export function encodeSafetensors(tensors: ReadonlyMap<string, TensorToWrite>, metadata: Record<string, string> | null = null): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new Error('"__metadata__" is reserved and cannot name a tensor');
    const n = numel(t.shape);
    if (t.data.length !== n) throw new Error(`tensor "${name}": ${t.data.length} values for shape [${t.shape}]`);
    if ((t.dtype === 'F32') !== (t.data instanceof Float32Array)) throw new Error(`tensor "${name}": dtype ${t.dtype} does not match its ${t.data.constructor.name}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + 4 * n] };
    offset += 4 * n;
  }
  let json = JSON.stringify(header);
  const jsonBytes = new TextEncoder().encode(json);
  const padded = Math.ceil((8 + jsonBytes.length) / 8) * 8 - 8;
  json += ' '.repeat(padded - jsonBytes.length);
  const out = new Uint8Array(8 + padded + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(padded), true);
  out.set(new TextEncoder().encode(json), 8);
  let p = 8 + padded;
  for (const t of tensors.values()) {
    for (let i = 0; i < t.data.length; i++, p += 4) {
      if (t.dtype === 'F32') dv.setFloat32(p, t.data[i], true);
      else dv.setInt32(p, t.data[i], true);
    }
  }
  return out;
}

/** Reads a .safetensors file (UserError when unreadable or malformed). */
export function readSafetensors(path: string): SafetensorsContents {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new UserError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (check the path)`);
  }
  return decodeSafetensors(buf, path);
}

/** Writes a .safetensors file atomically. */
export function writeSafetensors(path: string, tensors: ReadonlyMap<string, TensorToWrite>, metadata: Record<string, string> | null = null): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
