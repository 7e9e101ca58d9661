/**
 * Adds the running engine's character-class runs to
 * src/tokenizer/unicode-class-runs.json under its Unicode version
 * (`process.versions.unicode`), so the native tokenizer starts without
 * scanning every code point (see src/tokenizer/unicode-classes.ts). Run it
 * with each Node release the project supports whose Unicode version the file
 * lacks:
 *
 *   npx tsx scripts/unicode-class-runs.ts
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CLASS_RUNS_FILE, computeClassRanges, encodeClassRanges } from '../src/tokenizer/unicode-classes.ts';
import { writeFileAtomic } from '../src/util/atomic.ts';

const path = fileURLToPath(CLASS_RUNS_FILE);
const version = process.versions.unicode;
if (!version) {
  process.stderr.write('this Node does not report its Unicode version (process.versions.unicode): nothing to store\n');
  process.exit(2);
}
const stored = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>) : {};
const runs = computeClassRanges();
stored[version] = encodeClassRanges(runs);
const sorted = Object.fromEntries(Object.keys(stored).sort().map((k) => [k, stored[k]]));
writeFileAtomic(path, `${JSON.stringify(sorted, null, 1)}\n`);
process.stdout.write(`${path}: Unicode ${version}, ${runs.length / 3} runs (Node ${process.version})\n`);
