/**
 * Locates the read-only `shared/` data folder that sits beside the checkout
 * (CS336 conformance fixtures and benchmark corpora). Override with
 * LMPIPE_SHARED. In CI (CI=true) a missing file is a failure, not a skip.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (two levels above this file). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Absolute path of the shared data folder. */
export function sharedDir(): string {
  return resolve(process.env.LMPIPE_SHARED ?? join(REPO_ROOT, '..', 'shared'));
}

/** Absolute path of a file under the shared folder. */
export function sharedPath(...parts: string[]): string {
  return join(sharedDir(), ...parts);
}

/**
 * For tests: returns the path if the file exists; otherwise returns null
 * (the caller skips) unless CI=true, where a missing fixture throws.
 */
export function sharedFileOrSkip(...parts: string[]): string | null {
  const p = sharedPath(...parts);
  if (existsSync(p)) return p;
  if (process.env.CI === 'true') {
    throw new Error(`shared fixture missing: ${p} (set LMPIPE_SHARED to the shared/ folder)`);
  }
  return null;
}
