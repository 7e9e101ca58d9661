/**
 * The `native` backend: lmpipe's C++/OpenBLAS kernels (register.ts, the
 * addon in addon.ts, built from native/ by `npm run build:native`), with the
 * fused model ops and the one-pass AdamW update of fused.ts. Available when
 * the addon is built and loads; `auto` warns once when it is not.
 */
import { NativeUnavailableError, loadNative } from './addon.ts';
import { NATIVE_BACKEND, nativeBackendInfo, registerNativeBackend } from './register.ts';
import { NATIVE_MODEL_OPS, adamwUpdate } from './fused.ts';
import { setTfBackend } from '../set-backend.ts';
import { AVAILABLE, unavailable } from '../interface.ts';
import type { Backend, BackendFacts } from '../interface.ts';

export const nativeBackend: Backend<'native'> = {
  name: 'native',
  auto: true,
  skipWarning: 'falling back to the much slower JS cpu backend',
  async probe() {
    try {
      loadNative();
      return AVAILABLE;
    } catch (e) {
      if (e instanceof NativeUnavailableError) return unavailable(`backend "native": ${e.message}, or use --backend cpu`);
      throw e;
    }
  },
  async activate() {
    registerNativeBackend();
    await setTfBackend(NATIVE_BACKEND, 'native');
    return { ops: NATIVE_MODEL_OPS, adamwUpdate };
  },
  info(): BackendFacts {
    const i = nativeBackendInfo();
    if (!i) return {};
    return { isa: i.isa, threads: i.threads, openblasCore: i.openblasCore, openblasConfig: i.openblasConfig, memoryReuse: i.memoryReuse ?? false };
  },
};
