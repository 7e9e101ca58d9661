/**
 * WebGPU backend selection policy: software rasterisers are recognised from
 * what real adapters report (strings seen from Dawn on Mesa lavapipe,
 * Mesa llvmpipe through OpenGL ES, SwiftShader, NVIDIA), `--backend webgpu`
 * refuses them unless LMPIPE_WEBGPU_ALLOW_SOFTWARE=1, and `auto` never
 * picks them.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKEND_NAMES } from '../src/backends/registry.ts';
import { selectBackend } from '../src/backends/select.ts';
import { describeAdapter, gpuDeviceLikelyPresent, setupWebGPU, softwareAdapterReason, vulkanLoaderLikelyPresent } from '../src/backends/webgpu/setup.ts';
import type { WebGPUSetup } from '../src/backends/webgpu/setup.ts';
import { UserError } from '../src/pipeline/errors.ts';

test('software adapters are recognised; GPUs are not', () => {
  const software = [
    { vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1' },
    { vendor: '', architecture: '', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'OpenGL version OpenGL ES 3.2 Mesa 22.3.6' },
    { vendor: 'google', architecture: 'swiftshader', device: 'SwiftShader Device (Subzero)', description: 'SwiftShader driver' },
    { vendor: 'microsoft', architecture: '', device: 'Microsoft Basic Render Driver', description: '' },
    { vendor: 'nvidia', architecture: 'hopper', device: '', description: '', isFallbackAdapter: true },
  ];
  for (const info of software) assert.notEqual(softwareAdapterReason(info), null, describeAdapter(info));
  const gpus = [
    { vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H200', description: 'NVIDIA: 580.159.04 580.159.4.0' },
    { vendor: 'amd', architecture: 'rdna-3', device: 'AMD Radeon RX 7900 XTX (RADV NAVI31)', description: 'radv Mesa 25.0.7' },
    { vendor: 'intel', architecture: 'gen-12lp', device: 'Intel(R) UHD Graphics 770', description: 'Intel open-source Mesa driver' },
    { vendor: 'apple', architecture: 'metal-3', device: '', description: '' },
  ];
  for (const info of gpus) assert.equal(softwareAdapterReason(info), null, describeAdapter(info));
});

test('webgpu is a backend choice; Dawn backend options bypass the Vulkan loader check', () => {
  assert.ok(BACKEND_NAMES.includes('webgpu'));
  assert.equal(vulkanLoaderLikelyPresent(['backend=opengles']), true);
});

test('auto looks for a GPU device node before starting Dawn: DRM render nodes or NVIDIA devices', { skip: process.platform !== 'linux' && 'Linux only' }, () => {
  const dev = mkdtempSync(join(tmpdir(), 'lmpipe-dev-'));
  try {
    assert.equal(gpuDeviceLikelyPresent([], dev), false, 'no device nodes');
    mkdirSync(join(dev, 'dri'));
    writeFileSync(join(dev, 'dri', 'card0'), '');
    writeFileSync(join(dev, 'nvidiactl'), '');
    assert.equal(gpuDeviceLikelyPresent([], dev), false, 'a card node without a render node, or nvidiactl alone, is no usable GPU');
    writeFileSync(join(dev, 'nvidia0'), '');
    assert.equal(gpuDeviceLikelyPresent([], dev), true, 'NVIDIA device');
    rmSync(join(dev, 'nvidia0'));
    writeFileSync(join(dev, 'dri', 'renderD128'), '');
    assert.equal(gpuDeviceLikelyPresent([], dev), true, 'DRM render node');
    assert.equal(gpuDeviceLikelyPresent(['backend=opengles'], join(dev, 'missing')), true, 'an explicit Dawn backend is tried anyway');
  } finally {
    rmSync(dev, { recursive: true, force: true });
  }
});

let probe: WebGPUSetup | null = null;
try {
  probe = await setupWebGPU({ allowSoftware: true });
} catch {
  probe = null;
}
const skipSoftware = probe === null ? 'no WebGPU adapter' : probe.software === null ? 'the adapter is a real GPU' : false;

test('a software adapter: --backend webgpu refuses it without LMPIPE_WEBGPU_ALLOW_SOFTWARE, auto skips it', { skip: skipSoftware }, async () => {
  const saved = process.env.LMPIPE_WEBGPU_ALLOW_SOFTWARE;
  delete process.env.LMPIPE_WEBGPU_ALLOW_SOFTWARE;
  try {
    await assert.rejects(selectBackend('webgpu'), (e: unknown) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match((e as Error).message, /software rasteriser|fallback/);
      assert.match((e as Error).message, /LMPIPE_WEBGPU_ALLOW_SOFTWARE=1/);
      return true;
    });
    process.env.LMPIPE_WEBGPU_ALLOW_SOFTWARE = '1';
    const auto = await selectBackend('auto');
    assert.notEqual(auto.name, 'webgpu', 'auto must not choose a software adapter even when allowed explicitly');
    assert.ok(auto.skipped.some((s) => s.startsWith('webgpu: ')), auto.skipped.join('; '));
    const explicit = await selectBackend('webgpu');
    assert.equal(explicit.tfBackend, 'webgpu');
  } finally {
    if (saved === undefined) delete process.env.LMPIPE_WEBGPU_ALLOW_SOFTWARE;
    else process.env.LMPIPE_WEBGPU_ALLOW_SOFTWARE = saved;
  }
});
