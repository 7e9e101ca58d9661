/**
 * The `skip` option of a test file that needs a part of the native addon
 * (the tokenizer core, the tally, the JSON Lines core): false when the part
 * is there; else the reason, also printed as a `note:` line, except with
 * CI=true, where a missing part fails the run instead of skipping it.
 */
export function skipWithoutNative(file: string, part: string, missing: () => string | null): string | false {
  const why = missing();
  if (why === null) return false;
  if (process.env.CI === 'true') throw new Error(`${part} unavailable in CI: ${why}`);
  const reason = `${part} unavailable: ${why}`;
  process.stderr.write(`note: ${file} skipped: ${reason}\n`);
  return reason;
}
