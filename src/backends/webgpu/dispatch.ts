/**
 * Runs hand-written WGSL compute shaders on TensorFlow.js's `webgpu`
 * backend, sharing its device, buffers and command stream. tfjs's own
 * program API allows one output per shader and wraps user code in a fixed
 * preamble; the fused kernels here need several outputs (e.g. attention's
 * output and its log-sum-exp) and their own bindings, so this module records
 * the dispatch itself, the way tfjs's `recordAndSubmit` does: into the
 * backend's open compute pass (WebGPU orders dispatches within a pass, so
 * tfjs kernels before and after see the results), submitting in the same
 * batches.
 *
 * Binding convention of every shader: outputs at bindings 0..m-1
 * (`var<storage, read_write>`), inputs at m..m+n-1 (`var<storage, read>`),
 * then one uniform struct of 4-byte scalars. Workgroups are numbered
 * linearly: use `workgroupIndex(wid, nwg)` (WGSL below) and return when it is
 * >= the `groups` uniform (large counts are folded into a 2-D grid).
 *
 * Tied to @tensorflow/tfjs-backend-webgpu 4.22 internals (checked at use).
 */
import * as tf from '@tensorflow/tfjs';
import type { TensorInfo } from '@tensorflow/tfjs';

/** The GPU objects used here (a structural subset of the WebGPU API). */
interface GpuBufferLike { readonly size: number }
interface GpuPipelineLike { getBindGroupLayout(index: number): unknown }
interface GpuPassLike {
  setPipeline(p: GpuPipelineLike): void;
  setBindGroup(index: number, group: unknown): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
}
interface GpuCommandEncoderLike { beginComputePass(descriptor?: object): GpuPassLike }
export interface GpuDeviceLike {
  readonly limits: Readonly<Record<string, number>>;
  createShaderModule(d: { code: string; label?: string }): unknown;
  createComputePipeline(d: { layout: 'auto'; compute: { module: unknown; entryPoint: string }; label?: string }): GpuPipelineLike;
  createBindGroup(d: { layout: unknown; entries: { binding: number; resource: unknown }[] }): unknown;
  pushErrorScope?(filter: string): void;
  popErrorScope?(): Promise<{ message: string } | null>;
}

interface TensorData { resource: GpuBufferLike | null; dtype: string; shape: number[] }
type Uniform = { type: 'int32' | 'uint32' | 'float32'; data: number[] };

/** The parts of tfjs's WebGPUBackend this module relies on. */
interface WebGPUBackendInternals {
  device: GpuDeviceLike;
  tensorMap: { get(dataId: object): TensorData };
  commandEncoder: GpuCommandEncoderLike | null;
  computePassEncoder: GpuPassLike | null;
  commandQueueOwnedIds: WeakSet<object>;
  dispatchCountInPass: number;
  makeTensorInfo(shape: number[], dtype: string): TensorInfo;
  uploadToGPU(dataId: object): void;
  tensorToBinding(t: TensorInfo): unknown;
  makeUniforms(u: Uniform[]): unknown;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  disposeData(dataId: object, force?: boolean): boolean;
}

const REQUIRED = ['device', 'tensorMap', 'disposeData', 'makeTensorInfo', 'uploadToGPU', 'tensorToBinding', 'makeUniforms', 'ensureCommandEncoderReady', 'endComputePassEncoder', 'submitQueue'];

/** The active tfjs backend as a WebGPU backend (throws if it is not one). */
export function webgpuBackend(): WebGPUBackendInternals {
  const b = tf.backend() as unknown as Record<string, unknown>;
  const missing = REQUIRED.filter((k) => b[k] === undefined);
  if (tf.getBackend() !== 'webgpu' || missing.length > 0) {
    throw new Error(`fused WebGPU kernels need tfjs's webgpu backend (4.22 internals)${missing.length ? `; missing: ${missing.join(', ')}` : ''}`);
  }
  return b as unknown as WebGPUBackendInternals;
}

/** The WebGPU device of the active backend. */
export function webgpuDevice(): GpuDeviceLike {
  return webgpuBackend().device;
}

/**
 * Frees an intermediate output that was never wrapped in a tensor (the
 * backend defers the release until the pending commands are submitted).
 */
export function disposeInfo(info: TensorInfo): void {
  webgpuBackend().disposeData(info.dataId, true);
}

/** A compute shader with entry point `main`. */
export interface WgslProgram {
  /** Names the pipeline in WebGPU error messages. */
  label: string;
  code: string;
}

/** Shape and dtype of one output. */
export interface OutputSpec {
  shape: number[];
  dtype: 'float32' | 'int32';
}

/** A uniform value: `u` u32, `i` i32, `f` f32 (in the struct's field order). */
export type UniformValue = { u: number } | { i: number } | { f: number };

const pipelines = new WeakMap<object, Map<string, GpuPipelineLike>>();

function pipelineFor(device: GpuDeviceLike, program: WgslProgram): GpuPipelineLike {
  let cache = pipelines.get(device);
  if (!cache) {
    cache = new Map();
    pipelines.set(device, cache);
  }
  const failure = failedPrograms.get(program.code);
  if (failure) throw new Error(`WGSL program ${program.label} failed to compile: ${failure}`);
  let p = cache.get(program.code);
  if (!p) {
    device.pushErrorScope?.('validation');
    const module = device.createShaderModule({ code: program.code, label: program.label });
    p = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: program.label });
    cache.set(program.code, p);
    // WebGPU reports compile errors asynchronously: record them, fail later uses.
    void device.popErrorScope?.().then((err) => {
      if (!err) return;
      failedPrograms.set(program.code, err.message);
      compileErrors.push(`${program.label}: ${err.message}`);
      process.stderr.write(`lmpipe webgpu: ${program.label} failed to compile: ${err.message}\n`);
    });
  }
  return p;
}

const failedPrograms = new Map<string, string>();
const compileErrors: string[] = [];

/** Compile errors of this module's WGSL programs so far (tests assert none). */
export function wgslCompileErrors(): readonly string[] {
  return compileErrors;
}

/** WGSL helper every program includes: the linear workgroup number. */
export const WORKGROUP_INDEX_WGSL = /* wgsl */ `
fn workgroupIndex(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}
`;

/** Splits `groups` workgroups into a grid within the per-dimension limit. */
export function dispatchGrid(groups: number, maxPerDimension: number): [number, number] {
  if (groups <= maxPerDimension) return [Math.max(groups, 1), 1];
  const y = Math.ceil(groups / maxPerDimension);
  return [Math.ceil(groups / y), y];
}

function uniformEntry(u: UniformValue): Uniform {
  if ('u' in u) return { type: 'uint32', data: [u.u] };
  if ('i' in u) return { type: 'int32', data: [u.i] };
  return { type: 'float32', data: [u.f] };
}

/**
 * Records one dispatch of `program` over `groups` workgroups and returns the
 * new output tensors (as TensorInfos owned by the backend; wrap them with
 * `tf.engine().makeTensorFromTensorInfo` or return them from a kernel).
 * The uniform struct receives `uniforms` followed by `groups` (u32).
 */
export function runWgsl(program: WgslProgram, inputs: readonly TensorInfo[], outputs: readonly OutputSpec[], uniforms: readonly UniformValue[], groups: number): TensorInfo[] {
  const backend = webgpuBackend();
  if (groups <= 0 || outputs.some((o) => o.shape.reduce((x, y) => x * y, 1) === 0)) {
    throw new Error(`${program.label}: empty dispatch (callers handle empty tensors)`);
  }
  const outs = outputs.map((o) => backend.makeTensorInfo(o.shape, o.dtype));
  for (const t of [...outs, ...inputs]) backend.uploadToGPU(t.dataId);
  const device = backend.device;
  const pipeline = pipelineFor(device, program);
  const entries = [...outs, ...inputs].map((t, binding) => ({ binding, resource: backend.tensorToBinding(t) }));
  entries.push({ binding: entries.length, resource: backend.makeUniforms([...uniforms.map(uniformEntry), { type: 'uint32', data: [groups] }]) });
  const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  for (const t of [...inputs, ...outs]) backend.commandQueueOwnedIds.add(t.dataId);
  backend.ensureCommandEncoderReady();
  if (!backend.computePassEncoder) backend.computePassEncoder = (backend.commandEncoder as GpuCommandEncoderLike).beginComputePass({});
  const pass = backend.computePassEncoder;
  const [x, y] = dispatchGrid(groups, device.limits.maxComputeWorkgroupsPerDimension ?? 65535);
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(x, y, 1);
  backend.dispatchCountInPass++;
  dispatches.set(program.label, (dispatches.get(program.label) ?? 0) + 1);
  if (backend.dispatchCountInPass >= Number(tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE'))) {
    backend.endComputePassEncoder();
    backend.submitQueue();
  }
  return outs;
}

const dispatches = new Map<string, number>();

/** Dispatches recorded so far, by program label prefix (tests check the fused path ran). */
export function wgslDispatchCount(labelPrefix = ''): number {
  let n = 0;
  for (const [label, c] of dispatches) if (label.startsWith(labelPrefix)) n += c;
  return n;
}

/** Largest power of two <= n (n >= 1). */
export function floorPow2(n: number): number {
  return 2 ** Math.floor(Math.log2(Math.max(1, n)));
}

/** Workgroup size for one-row-per-workgroup reductions: <= the device limit, a power of two. */
export function reductionWorkgroupSize(device: GpuDeviceLike, preferred: number): number {
  const limit = Math.min(device.limits.maxComputeInvocationsPerWorkgroup ?? 256, device.limits.maxComputeWorkgroupSizeX ?? 256);
  return floorPow2(Math.min(preferred, limit));
}

/** A storage binding: name and element type (`f32` or `i32`). */
export interface BindingDecl {
  name: string;
  type: 'f32' | 'i32';
}

/**
 * The binding declarations of a program in the module's convention: outputs,
 * inputs, then `params` (a struct of the given 4-byte scalar fields followed
 * by `groups: u32`).
 */
export function bindingsWgsl(outputs: readonly BindingDecl[], inputs: readonly BindingDecl[], params: readonly [string, 'u32' | 'i32' | 'f32'][]): string {
  const lines: string[] = [];
  let b = 0;
  for (const o of outputs) lines.push(`@group(0) @binding(${b++}) var<storage, read_write> ${o.name}: array<${o.type}>;`);
  for (const i of inputs) lines.push(`@group(0) @binding(${b++}) var<storage, read> ${i.name}: array<${i.type}>;`);
  const fields = [...params.map(([n, t]) => `${n}: ${t}`), 'groups: u32'].join(', ');
  lines.push(`struct Params { ${fields} };`);
  lines.push(`@group(0) @binding(${b}) var<uniform> params: Params;`);
  lines.push(WORKGROUP_INDEX_WGSL);
  return lines.join('\n');
}

/** The entry point's builtin parameters (names: wid, nwg, lid). */
export const ENTRY_ARGS_WGSL = '@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32';
