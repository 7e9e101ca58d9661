/**
 * Makes WebGPU available to TensorFlow.js in Node: loads Google's Dawn
 * (npm `webgpu`, a prebuilt `dawn.node`), picks an adapter, rejects software
 * rasterisers unless allowed, publishes the WebGPU globals and
 * `navigator.gpu`, and only then imports `@tensorflow/tfjs-backend-webgpu`
 * (it registers its backend only if `navigator.gpu` exists at import time).
 *
 * Environment:
 * - LMPIPE_WEBGPU_ALLOW_SOFTWARE=1 accepts a software adapter (lavapipe,
 *   llvmpipe, SwiftShader): slow, but it lets tests run without a GPU.
 * - LMPIPE_WEBGPU_FLAGS: extra Dawn options, comma-separated (e.g.
 *   `backend=opengles` with EGL_PLATFORM=surfaceless for Mesa's GL driver).
 * On NVIDIA machines point the Vulkan loader at the driver's ICD, e.g.
 * VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json.
 */
import { existsSync, readdirSync } from 'node:fs';
import { UserError } from '../../pipeline/errors.ts';

/** The package versions the WebGPU backend is built and tested against. */
export const WEBGPU_PACKAGES = { webgpu: '0.6.2', '@tensorflow/tfjs-backend-webgpu': '4.22.0' } as const;

/** The npm command that installs the WebGPU backend's packages. */
export function webgpuInstallHint(): string {
  return `npm install ${Object.entries(WEBGPU_PACKAGES).map(([p, v]) => `${p}@${v}`).join(' ')}`;
}

/** What an adapter says about itself (GPUAdapterInfo plus the fallback flag). */
export interface AdapterDescription {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

const SOFTWARE_MARKERS = ['llvmpipe', 'lavapipe', 'softpipe', 'swiftshader', 'software rasterizer', 'microsoft basic render'];

/**
 * Why an adapter is a software rasteriser rather than a GPU, or null for a
 * real GPU. Dawn does not always set `isFallbackAdapter` for Mesa's CPU
 * drivers, so the vendor/architecture/description strings are checked too.
 */
export function softwareAdapterReason(info: AdapterDescription): string | null {
  if (info.isFallbackAdapter) return 'it is a fallback adapter';
  const text = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ').toLowerCase();
  const marker = SOFTWARE_MARKERS.find((m) => text.includes(m));
  if (marker) return `it is a software rasteriser (${marker})`;
  if (/\bsoftware\b/.test(info.architecture?.toLowerCase() ?? '')) return 'its architecture is "software"';
  return null;
}

/** One-line human description of an adapter. */
export function describeAdapter(info: AdapterDescription): string {
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s) => s && s.length > 0);
  return parts.length > 0 ? parts.join(' / ') : 'unnamed adapter';
}

export interface WebGPUSetupOptions {
  /** Accept a software adapter (default: LMPIPE_WEBGPU_ALLOW_SOFTWARE=1). */
  allowSoftware?: boolean;
  /** Dawn options (default: LMPIPE_WEBGPU_FLAGS split on commas). */
  flags?: readonly string[];
}

/** The adapter the webgpu backend runs on. */
export interface WebGPUSetup {
  adapter: AdapterDescription;
  /** Why the adapter counts as software (null: a real GPU). */
  software: string | null;
  /** Dawn's feature level: 'core', or 'compatibility' (OpenGL ES backend). */
  featureLevel: 'core' | 'compatibility';
  flags: readonly string[];
}

interface AdapterLike {
  readonly info?: AdapterDescription;
  readonly isFallbackAdapter?: boolean;
}

interface GpuLike {
  requestAdapter(options?: Record<string, unknown>): Promise<AdapterLike | null>;
}

interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

function envFlag(name: string): boolean {
  const v = process.env[name];
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

function envFlags(): string[] {
  return (process.env.LMPIPE_WEBGPU_FLAGS ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function isModuleNotFound(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

/**
 * False when, on Linux, no Vulkan loader is where Dawn looks for it and no
 * other Dawn backend was requested: `auto` then skips WebGPU without loading
 * Dawn (which would print a loader warning on every CPU-only machine).
 */
export function vulkanLoaderLikelyPresent(flags: readonly string[] = envFlags()): boolean {
  if (process.platform !== 'linux' || flags.some((f) => f.startsWith('backend='))) return true;
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu', '/lib64', '/usr/local/lib',
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)];
  return dirs.some((d) => existsSync(`${d}/libvulkan.so.1`));
}

/**
 * False when, on Linux, there is no GPU device node (a DRM render node such
 * as /dev/dri/renderD128, or NVIDIA's /dev/nvidia*) and no Dawn backend was
 * requested: a hardware adapter cannot exist then, so `auto` skips WebGPU
 * without starting Dawn, which would only find a software rasteriser (and
 * print Vulkan driver warnings on every run of a CPU-only machine).
 */
export function gpuDeviceLikelyPresent(flags: readonly string[] = envFlags(), devDir = '/dev'): boolean {
  if (process.platform !== 'linux' || flags.some((f) => f.startsWith('backend='))) return true;
  const list = (d: string): string[] => {
    try {
      return readdirSync(d);
    } catch {
      return [];
    }
  };
  return list(`${devDir}/dri`).some((n) => n.startsWith('renderD')) || list(devDir).some((n) => /^nvidia\d+$/.test(n));
}

interface Probe {
  setup: WebGPUSetup;
  /** Publishes the globals and registers tfjs's backend (once). */
  publish(): Promise<void>;
}

/** How the optional packages are loaded (replaceable for bundles, see `provideWebGPUModules`). */
interface ModuleLoaders {
  webgpu: () => Promise<unknown>;
  backend: () => Promise<unknown>;
}

const importByName = (name: string): Promise<unknown> => import(name);
let loaders: ModuleLoaders = {
  webgpu: () => importByName('webgpu'),
  backend: () => importByName('@tensorflow/tfjs-backend-webgpu'),
};

/**
 * For single-file bundles (scripts/device/): supplies the two optional
 * packages as loader functions with literal `import()`s the bundler can see.
 * The backend loader must not run before `navigator.gpu` exists, so it stays
 * a function that `setupWebGPU` calls at the right moment.
 */
export function provideWebGPUModules(custom: ModuleLoaders): void {
  loaders = custom;
}

let probePromise: Promise<Probe> | null = null;
let probeKey = '';

/**
 * Loads Dawn, checks the adapter and registers tfjs's `webgpu` backend
 * (idempotent). Throws a UserError naming the fix when the packages are
 * missing, no adapter exists, or only a software adapter does and software
 * is not allowed; in that case nothing is registered or made global.
 */
export async function setupWebGPU(options: WebGPUSetupOptions = {}): Promise<WebGPUSetup> {
  const allowSoftware = options.allowSoftware ?? envFlag('LMPIPE_WEBGPU_ALLOW_SOFTWARE');
  const flags = options.flags ?? envFlags();
  const key = flags.join(',');
  if (!probePromise || key !== probeKey) {
    probeKey = key;
    probePromise = probeDawn(flags);
    probePromise.catch(() => { probePromise = null; });
  }
  const probe = await probePromise;
  const { setup } = probe;
  if (setup.software && !allowSoftware) {
    throw new UserError(`backend "webgpu": the only WebGPU adapter is ${describeAdapter(setup.adapter)}, and ${setup.software}; set LMPIPE_WEBGPU_ALLOW_SOFTWARE=1 to use it anyway (very slow) or use --backend cpu`);
  }
  await probe.publish();
  return setup;
}

/**
 * A high-performance adapter: a core one, else a compatibility-mode one
 * (Dawn's OpenGL ES backend offers only those); in that case tfjs's later
 * requestAdapter calls are made to ask for compatibility mode too.
 */
async function findAdapter(gpu: GpuLike): Promise<{ adapter: AdapterLike; featureLevel: WebGPUSetup['featureLevel'] } | null> {
  const core = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (core) return { adapter: core, featureLevel: 'core' };
  const compat = await gpu.requestAdapter({ powerPreference: 'high-performance', featureLevel: 'compatibility' });
  if (!compat) return null;
  const request = gpu.requestAdapter.bind(gpu);
  gpu.requestAdapter = (o?: Record<string, unknown>) => request({ ...o, featureLevel: 'compatibility' });
  return { adapter: compat, featureLevel: 'compatibility' };
}

async function probeDawn(flags: readonly string[]): Promise<Probe> {
  let dawn: DawnModule;
  try {
    dawn = (await loaders.webgpu()) as DawnModule;
  } catch (e) {
    if (isModuleNotFound(e)) throw new UserError(`backend "webgpu" needs the optional packages webgpu and @tensorflow/tfjs-backend-webgpu; run \`${webgpuInstallHint()}\` or use --backend cpu`);
    throw new UserError(`backend "webgpu": the webgpu package failed to load (${(e as Error).message.split('\n')[0]}); reinstall it or use --backend cpu`);
  }
  let gpu = dawn.create([...flags]);
  let found = await findAdapter(gpu);
  let usedFlags = flags;
  if (!found && flags.length === 0) {
    // No Vulkan adapter: try Dawn's OpenGL ES backend (e.g. Mesa through EGL without a display).
    process.env.EGL_PLATFORM ??= 'surfaceless';
    usedFlags = ['backend=opengles'];
    gpu = dawn.create([...usedFlags]);
    found = await findAdapter(gpu);
  }
  const adapter = found?.adapter ?? null;
  const featureLevel = found?.featureLevel ?? 'core';
  if (!adapter) {
    throw new UserError(`backend "webgpu": Dawn found no WebGPU adapter (${flags.length ? `Dawn options ${flags.join(',')}` : 'Vulkan and OpenGL ES tried'}); install a Vulkan driver and loader (libvulkan1; see scripts/install-webgpu-deps.sh), point VK_DRIVER_FILES at the GPU's ICD file, or use --backend cpu`);
  }
  // GPUAdapterInfo exposes getters on its prototype: read them one by one (a spread copies nothing).
  const info = adapter.info;
  const adapterInfo: AdapterDescription = {
    vendor: info?.vendor ?? '', architecture: info?.architecture ?? '', device: info?.device ?? '', description: info?.description ?? '',
    isFallbackAdapter: (adapter.isFallbackAdapter ?? info?.isFallbackAdapter) === true,
  };
  if (adapterInfo.device === 'null-backend') {
    throw new UserError('backend "webgpu": Dawn returned its null adapter, which computes nothing; remove backend=null from LMPIPE_WEBGPU_FLAGS or use --backend cpu');
  }
  let published: Promise<void> | null = null;
  const publish = (): Promise<void> => {
    published ??= (async () => {
      publishGlobals(dawn.globals, gpu);
      try {
        await loaders.backend();
      } catch (e) {
        if (isModuleNotFound(e)) throw new UserError(`backend "webgpu" needs the optional package @tensorflow/tfjs-backend-webgpu; run \`${webgpuInstallHint()}\` or use --backend cpu`);
        throw e;
      }
    })();
    return published;
  };
  return { setup: { adapter: adapterInfo, software: softwareAdapterReason(adapterInfo), featureLevel, flags: usedFlags }, publish };
}

/**
 * Defines the WebGPU constants/classes (GPUBufferUsage, GPUBuffer, …) and
 * `navigator.gpu`. Node >= 21 has a read-only `navigator` getter: the gpu
 * property is added to that object; older Node gets a minimal navigator.
 */
function publishGlobals(globals: Record<string, unknown>, gpu: GpuLike): void {
  Object.assign(globalThis, globals);
  const g = globalThis as { navigator?: object };
  if (g.navigator && Object.isExtensible(g.navigator)) {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: `Node.js/${process.versions.node}` }, configurable: true, writable: true });
  }
}
