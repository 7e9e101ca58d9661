/**
 * Test data locations.
 *
 * - `fixtures/` in the repository: data every checkout has (the CS336 kit's
 *   MIT-licensed 2025 fixtures under `fixtures/cs336/`, see its README).
 *   Tests read it through `fixturePath` and never skip on it.
 * - The read-only `shared/` folder beside the checkout (override with
 *   LMPIPE_SHARED): optional extras only (the v2024 CS336 tensors, the
 *   benchmark corpora). A user's clone lacks it; tests that need it are then
 *   not registered (a note on stderr says so). In CI (CI=true) a missing
 *   shared file is a failure, not a silent omission.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (two levels above this file). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The repository's fixtures/ folder. */
export const FIXTURES_DIR = join(REPO_ROOT, 'fixtures');

/**
 * Absolute path of a file committed under fixtures/, e.g.
 * `fixturePath('cs336', 'fixtures', 'text', 'corpus.en')`. It is part of
 * every checkout, so a missing file throws (a broken checkout, not a skip).
 */
export function fixturePath(...parts: string[]): string {
  const p = join(FIXTURES_DIR, ...parts);
  if (!existsSync(p)) throw new Error(`repository fixture missing: ${p} (is the checkout complete?)`);
  return p;
}

/** Absolute path of the shared data folder. */
export function sharedDir(): string {
  return resolve(process.env.LMPIPE_SHARED ?? join(REPO_ROOT, '..', 'shared'));
}

/** Absolute path of a file under the shared folder. */
export function sharedPath(...parts: string[]): string {
  return join(sharedDir(), ...parts);
}

const noted = new Set<string>();

/**
 * For optional extra tests: the path if the shared file exists; otherwise
 * null, and the caller leaves its extra test out (a one-time note on stderr
 * names the missing file). With CI=true a missing file throws instead.
 */
export function sharedFileOrSkip(...parts: string[]): string | null {
  const p = sharedPath(...parts);
  if (existsSync(p)) return p;
  if (process.env.CI === 'true') {
    throw new Error(`shared fixture missing: ${p} (set LMPIPE_SHARED to the shared/ folder)`);
  }
  if (!noted.has(p)) {
    noted.add(p);
    process.stderr.write(`note: ${p} not found; the extra tests that read it are not run (set LMPIPE_SHARED to the shared/ folder to run them)\n`);
  }
  return null;
}
