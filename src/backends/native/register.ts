/**
 * The `native` TensorFlow.js backend: a second instance of tfjs's pure-JS
 * CPU backend (same tensor storage, same fallbacks) whose hot kernels are
 * replaced by the C++/OpenBLAS addon. The stock `cpu` backend is left
 * untouched, so it stays the reference the native kernels are tested
 * against, and `--backend native` is a real backend name.
 *
 *   registerNativeBackend();          // throws NativeUnavailableError if the addon is missing
 *   await tf.setBackend('native');
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { loadNative } from './addon.ts';
import type { NativeAddon, NativeInfo, NativeIsa } from './addon.ts';
import type { NativeKernel } from './cpu-data.ts';
import { asKernelFunc } from './cpu-data.ts';
import { fusedKernels } from './kernels-fused.ts';
import { layoutKernels } from './kernels-layout.ts';
import { mathKernels } from './kernels-math.ts';

/** The tfjs backend name. */
export const NATIVE_BACKEND = 'native';

/** Names of the stock kernels the native backend replaces. */
export function replacedKernelNames(addon: NativeAddon): string[] {
  return [...Object.keys(mathKernels(addon)), ...Object.keys(layoutKernels(addon))];
}

function register(config: KernelConfig): void {
  if (tf.getKernel(config.kernelName, config.backendName)) tf.unregisterKernel(config.kernelName, config.backendName);
  tf.registerKernel(config);
}

let registered = false;

export interface NativeBackendOptions {
  /** Threads per kernel (default: LMPIPE_NATIVE_THREADS or all cores). */
  threads?: number;
  /** Kernel variant (default: the best this CPU runs); for tests and benchmarks. */
  isa?: NativeIsa;
  /**
   * Keep freed memory mapped for reuse (default true). Every tensor of a
   * cpu-class backend is a fresh typed array, and glibc returns large freed
   * blocks to the OS, so each training step would fault its whole
   * activation footprint back in (about 15% of a step); the addon pins
   * glibc's mmap threshold and disables trimming instead (RSS stays at its
   * high-water mark, as with PyTorch's caching allocator). Decided by the
   * first registration of the process; false keeps glibc's own policy (the
   * memory-reuse test compares both).
   */
  memoryReuse?: boolean;
}

/** Whether freed memory stays mapped for reuse; set when the backend registers. */
let memoryReuse = false;

/** What the addon reports now, once the backend is registered; null before. */
export function nativeBackendInfo(): NativeInfo | null {
  return registered ? { ...loadNative().info(), memoryReuse } : null;
}

/**
 * Registers the `native` backend (idempotent; `threads` and `isa` apply on
 * every call) and returns what the addon reports. Priority 0: tfjs never
 * picks it on its own; select it with `tf.setBackend('native')`. Throws
 * NativeUnavailableError when the addon is not built or does not load.
 */
export function registerNativeBackend(options: NativeBackendOptions = {}): NativeInfo {
  const addon = loadNative();
  if (options.threads !== undefined) addon.setThreads(options.threads);
  if (options.isa !== undefined) addon.setIsa(options.isa);
  if (registered) return { ...addon.info(), memoryReuse };
  const cpuFactory = tf.findBackendFactory('cpu');
  if (!cpuFactory) throw new Error('the tfjs cpu backend is not registered; import @tensorflow/tfjs first');
  tf.registerBackend(NATIVE_BACKEND, () => {
    const backend = cpuFactory() as tf.KernelBackend & { firstUse?: boolean };
    // The cpu backend's one-time "install tfjs-node" console banner does not apply here.
    if (backend.firstUse !== undefined) backend.firstUse = false;
    return backend;
  }, 0);
  // Everything the cpu backend can do, the native backend can do too…
  const stock = new Map<string, KernelFunc>();
  for (const config of tf.getKernelsForBackend('cpu')) {
    stock.set(config.kernelName, config.kernelFunc);
    register({ ...config, backendName: NATIVE_BACKEND });
  }
  // …with the hot kernels replaced (each wraps the stock kernel for its fallbacks)…
  const replacements: Record<string, (s: KernelFunc) => NativeKernel> = { ...mathKernels(addon), ...layoutKernels(addon) };
  for (const [name, make] of Object.entries(replacements)) {
    const s = stock.get(name);
    if (!s) continue;
    register({ kernelName: name, backendName: NATIVE_BACKEND, kernelFunc: asKernelFunc(make(s)) });
  }
  // …and the fused operations' kernels on top.
  for (const [name, k] of Object.entries(fusedKernels(addon))) {
    register({ kernelName: name, backendName: NATIVE_BACKEND, kernelFunc: asKernelFunc(k) });
  }
  memoryReuse = (options.memoryReuse ?? true) && addon.keepFreedMemory();
  registered = true;
  return { ...addon.info(), memoryReuse };
}

/** True when the active tfjs backend is the native one. */
export function onNativeBackend(): boolean {
  return tf.getBackend() === NATIVE_BACKEND;
}
