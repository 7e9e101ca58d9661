/**
 * The backend registry: every folder under src/backends/ contributes
 * backends and every one of them is registered (and nothing else is);
 * `auto` walks a registry in order, skipping unavailable or failing
 * backends with their reasons and warning once for those that ask for it;
 * a named backend's probe reason is its error; an unknown name is a
 * one-line error listing the valid ones. The walk is tested on a fake
 * registry whose probe results are injected.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AVAILABLE, unavailable } from '../src/backends/interface.ts';
import type { Backend, ProbeResult } from '../src/backends/interface.ts';
import { BACKENDS, BACKEND_NAMES } from '../src/backends/registry.ts';
import type { BackendName } from '../src/backends/registry.ts';
import { selectBackend, selectFrom } from '../src/backends/select.ts';
import { plainAdamWUpdate } from '../src/train/adamw.ts';
import { UserError } from '../src/pipeline/errors.ts';

const BACKENDS_DIR = fileURLToPath(new URL('../src/backends/', import.meta.url));

function isBackend(v: unknown): v is Backend {
  const b = v as Partial<Backend> | null;
  return typeof b === 'object' && b !== null && typeof b.name === 'string' && typeof b.probe === 'function' && typeof b.activate === 'function' && typeof b.info === 'function';
}

test('every backend folder is in the registry, and the registry holds only folder backends', async () => {
  const folders = readdirSync(BACKENDS_DIR, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  assert.ok(folders.length >= 5, `folders: ${folders.join(', ')}`);
  const registered = new Set<unknown>(BACKENDS);
  const fromFolders = new Set<unknown>();
  for (const folder of folders) {
    const mod = (await import(`../src/backends/${folder}/backend.ts`)) as Record<string, unknown>;
    const backends = Object.values(mod).filter(isBackend);
    assert.ok(backends.length > 0, `src/backends/${folder}/backend.ts exports no Backend`);
    for (const b of backends) {
      assert.ok(registered.has(b), `backend "${b.name}" of src/backends/${folder}/ is not in src/backends/registry.ts`);
      fromFolders.add(b);
    }
  }
  for (const b of BACKENDS) assert.ok(fromFolders.has(b), `registry entry "${b.name}" comes from no backend folder`);
  assert.equal(new Set(BACKENDS.map((b) => b.name)).size, BACKENDS.length, 'backend names are unique');
});

test('the registry is in auto order and --backend accepts every registered name', () => {
  assert.deepEqual(BACKENDS.filter((b) => b.auto).map((b) => b.name), ['tfjs-node-gpu', 'webgpu', 'native', 'tfjs-node', 'cpu']);
  assert.deepEqual([...BACKEND_NAMES].sort(), ['auto', 'cpu', 'native', 'tfjs-node', 'tfjs-node-gpu', 'wasm', 'webgpu']);
  assert.equal(BACKENDS[BACKENDS.length - 1].auto, false, 'wasm: by name only');
});

/** A fake backend: `probe` answers `result` (or throws it), `activate` records the activation (or throws `failActivate`). */
function fake(name: string, result: ProbeResult | Error, log: string[], extra: Partial<Backend> = {}, failActivate?: string): Backend {
  return {
    name,
    auto: true,
    async probe({ auto }) {
      log.push(`probe ${name}${auto ? ' (auto)' : ''}`);
      if (result instanceof Error) throw result;
      return result;
    },
    async activate() {
      log.push(`activate ${name}`);
      if (failActivate !== undefined) throw new Error(failActivate);
      return { ops: {}, adamwUpdate: plainAdamWUpdate };
    },
    info: () => ({ fake: name }),
    ...extra,
  };
}

test('auto walks the registry in order and takes the first backend that probes available and activates', async () => {
  const log: string[] = [];
  const warnings: string[] = [];
  const registry = [
    fake('gpu-a', unavailable('no CUDA'), log),
    fake('by-name-only', AVAILABLE, log, { auto: false }),
    fake('gpu-b', new Error('driver crashed'), log),
    fake('fast', unavailable('not built; run make\nsecond line'), log, { skipWarning: 'falling back to slow' }),
    fake('flaky', AVAILABLE, log, {}, 'setBackend failed'),
    fake('slow', AVAILABLE, log),
    fake('never', AVAILABLE, log),
  ];
  const info = await selectFrom(registry, 'auto', { warn: (l) => warnings.push(l) });
  assert.equal(info.name, 'slow');
  assert.deepEqual(info.facts, { fake: 'slow' });
  assert.deepEqual(log, [
    'probe gpu-a (auto)', 'probe gpu-b (auto)', 'probe fast (auto)', 'probe flaky (auto)', 'activate flaky', 'probe slow (auto)', 'activate slow',
  ]);
  assert.deepEqual(info.skipped, ['gpu-a: no CUDA', 'gpu-b: driver crashed', 'fast: not built; run make\nsecond line', 'flaky: setBackend failed']);
  assert.deepEqual(warnings, ['lmpipe: warning: not built; run make; falling back to slow']);
  // The warning is printed once per process.
  await selectFrom(registry, 'auto', { warn: (l) => warnings.push(l) });
  assert.equal(warnings.length, 1);
});

test('a named backend: probed as not auto; its probe reason is the error; auto: false does not matter', async () => {
  const log: string[] = [];
  const registry = [fake('a', unavailable('backend "a" needs package x; run `npm install x`'), log), fake('b', AVAILABLE, log, { auto: false })];
  await assert.rejects(selectFrom(registry, 'a'), (e: unknown) => e instanceof UserError && (e as Error).message === 'backend "a" needs package x; run `npm install x`');
  const info = await selectFrom(registry, 'b');
  assert.equal(info.name, 'b');
  assert.deepEqual(info.skipped, []);
  assert.deepEqual(log, ['probe a', 'probe b', 'activate b']);
});

test('auto with nothing available is a UserError naming every reason', async () => {
  const registry = [fake('x', unavailable('no x'), []), fake('y', unavailable('no y'), [])];
  await assert.rejects(selectFrom(registry, 'auto', { warn: () => {} }), (e: unknown) => e instanceof UserError && /no x.*no y/.test((e as Error).message));
});

test('an unknown backend name is a one-line error listing the valid names', async () => {
  await assert.rejects(selectFrom([fake('x', AVAILABLE, [])], 'y'), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal((e as Error).message, 'unknown backend "y"; choose one of auto, x');
    return true;
  });
  await assert.rejects(selectBackend('gpu' as BackendName), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal((e as Error).message, `unknown backend "gpu"; choose one of ${BACKEND_NAMES.join(', ')}`);
    assert.ok(!(e as Error).message.includes('\n'));
    return true;
  });
});
