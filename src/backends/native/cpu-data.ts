/**
 * The few parts of tfjs's `MathBackendCPU` the native kernels touch: a
 * tensor's values (typed arrays held by the backend) and making an output
 * tensor from a fresh typed array. Declared structurally so no import of the
 * transitive `@tensorflow/tfjs-backend-cpu` package is needed.
 */
import type { DataType, KernelFunc, TensorInfo } from '@tensorflow/tfjs';

// Shape arithmetic lives with the broadcasting helpers; re-exported for the native kernels.

/** The backend object kernels receive. */
export interface CpuBackendLike {
  data: { get(dataId: object): { values?: unknown } | undefined };
  makeTensorInfo(shape: number[], dtype: DataType, values?: unknown): TensorInfo;
  disposeIntermediateTensorInfo(info: TensorInfo): void;
}

/** A kernel's arguments as tfjs passes them. */
export interface KernelArgs {
  inputs: Record<string, TensorInfo | undefined>;
  backend: CpuBackendLike;
  attrs?: Record<string, unknown>;
}

/** A kernel written against `KernelArgs`, usable as a tfjs KernelFunc. */
export type NativeKernel = (args: KernelArgs) => TensorInfo | TensorInfo[];

/** Adapts a NativeKernel to tfjs's loosely typed KernelFunc. */
export function asKernelFunc(k: NativeKernel): KernelFunc {
  return k as unknown as KernelFunc;
}

/** Calls a stock tfjs kernel with our argument shape. */
export function callStock(stock: KernelFunc, args: KernelArgs): TensorInfo | TensorInfo[] {
  return stock(args as unknown as Parameters<KernelFunc>[0]);
}

/** The values of a float32 tensor, or null (other dtypes, complex, strings). */
export function f32Values(backend: CpuBackendLike, t: TensorInfo | undefined): Float32Array | null {
  if (!t || t.dtype !== 'float32') return null;
  const v = backend.data.get(t.dataId)?.values;
  return v instanceof Float32Array ? v : null;
}

/** The values of an int32 tensor, or null. */
export function i32Values(backend: CpuBackendLike, t: TensorInfo | undefined): Int32Array | null {
  if (!t || t.dtype !== 'int32') return null;
  const v = backend.data.get(t.dataId)?.values;
  return v instanceof Int32Array ? v : null;
}

/** The values of a tensor held as a numeric typed array (float32, int32, bool), or null. */
export function typedValues(backend: CpuBackendLike, t: TensorInfo | undefined): Float32Array | Int32Array | Uint8Array | null {
  if (!t) return null;
  const v = backend.data.get(t.dataId)?.values;
  return v instanceof Float32Array || v instanceof Int32Array || v instanceof Uint8Array ? v : null;
}

/** A new, zeroed typed array of the same kind as `like`. */
export function allocLike<T extends Float32Array | Int32Array | Uint8Array>(like: T, n: number): T {
  if (like instanceof Float32Array) return new Float32Array(n) as T;
  if (like instanceof Int32Array) return new Int32Array(n) as T;
  return new Uint8Array(n) as T;
}
