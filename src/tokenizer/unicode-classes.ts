/**
 * The GPT-2 pattern's character classes as runs of code points, for the
 * native tokenizer core: which code points are letters (`\p{L}`), numbers
 * (`\p{N}`) or White_Space, exactly as the running V8's regexes say, so the
 * native scanner and the TypeScript one (`codePointClass`,
 * `pretokenizer.ts`) agree on the Unicode version.
 *
 * Scanning all 1.1 M code points with those regexes (`computeClassRanges`)
 * takes about 0.1 s, a fifth of a process's start-up with the GPT-2
 * vocabulary. The runs depend only on the Unicode version V8 was built with
 * (`process.versions.unicode`), so `unicode-class-runs.json` keeps them for
 * the versions of the Node releases this project runs on, and `classRanges`
 * computes them only for another version. `test/native-tokenizer.test.ts`
 * checks the stored runs against a fresh scan, and every code point against
 * `codePointClass`; `npx tsx scripts/unicode-class-runs.ts` adds the running
 * version to the file.
 */
import { readFileSync } from 'node:fs';
import { CLASS_LETTER, CLASS_NUMBER, CLASS_SPACE } from './pretokenizer.ts';

/** The stored runs: `{ "<unicode version>": base64 of little-endian uint32 (start, end exclusive, class) triples }`. */
export const CLASS_RUNS_FILE = new URL('./unicode-class-runs.json', import.meta.url);

/**
 * Runs of code points that are letters, numbers or White_Space, as
 * (start, end exclusive, class) triples, scanned with this engine's regex
 * Unicode tables. The classes match `codePointClass`: letter beats number
 * beats space (the runs come space, number, letter: later runs win).
 * Surrogate code points are "other" (as a lone surrogate is).
 */
export function computeClassRanges(): Uint32Array {
  // Every scalar value in order (surrogates left out) in one string, so a
  // regex finds each class's runs in one pass.
  const units = new Uint16Array(0xd800 + (0x10000 - 0xe000) + 2 * 0x100000);
  let o = 0;
  for (let cp = 0; cp < 0xd800; cp++) units[o++] = cp;
  for (let cp = 0xe000; cp < 0x10000; cp++) units[o++] = cp;
  for (let v = 0; v < 0x100000; v++) {
    units[o++] = 0xd800 | (v >> 10);
    units[o++] = 0xdc00 | (v & 0x3ff);
  }
  const text = Buffer.from(units.buffer).toString('utf16le');
  // UTF-16 index -> code point for this layout.
  const cpAt = (index: number): number => (index < 0xd800 ? index : index < 0xf800 ? index + 0x800 : 0x10000 + ((index - 0xf800) >> 1));
  const triples: number[] = [];
  const classes: [RegExp, number][] = [
    [/\p{White_Space}+/gu, CLASS_SPACE],
    [/\p{N}+/gu, CLASS_NUMBER],
    [/\p{L}+/gu, CLASS_LETTER],
  ];
  for (const [re, cls] of classes) {
    for (const m of text.matchAll(re)) {
      const start = m.index;
      triples.push(cpAt(start), cpAt(start + m[0].length), cls);
    }
  }
  return Uint32Array.from(triples);
}

/** The stored runs for Unicode `version`, or null when the file has none (or cannot be read). */
export function storedClassRanges(version: string | undefined = process.versions.unicode): Uint32Array | null {
  if (!version) return null;
  try {
    const stored = JSON.parse(readFileSync(CLASS_RUNS_FILE, 'utf8')) as Record<string, unknown>;
    const b64 = stored[version];
    if (typeof b64 !== 'string') return null;
    const bytes = Buffer.from(b64, 'base64');
    if (bytes.length % 12 !== 0) return null;
    const out = new Uint32Array(bytes.length / 4);
    for (let i = 0; i < out.length; i++) out[i] = bytes.readUInt32LE(4 * i);
    return out;
  } catch {
    return null;
  }
}

/** The class runs of the running engine: stored for its Unicode version, else scanned. */
export function classRanges(): Uint32Array {
  return storedClassRanges() ?? computeClassRanges();
}

/** The runs as the file stores them (base64 of little-endian uint32 triples). */
export function encodeClassRanges(runs: Uint32Array): string {
  const bytes = Buffer.alloc(runs.length * 4);
  runs.forEach((v, i) => bytes.writeUInt32LE(v, 4 * i));
  return bytes.toString('base64');
}
