/**
 * Tokenizer files on disk, both directions.
 *
 * A tokenizer directory holds:
 * - `vocab.json`   {token: id}, tokens spelled with the GPT-2 byte table
 *                  (like GPT-2's encoder.json and the CS336 fixtures);
 * - `merges.txt`   one `A B` line per merge in order, same spelling, no
 *                  `#version` header (the CS336 reader would take it as a merge);
 * - `tokenizer.json` a HuggingFace `tokenizers` ByteLevel BPE with the special
 *                  tokens as added tokens;
 * - `lmpipe.json`  metadata: special tokens and ids, vocab size, training
 *                  stats, a content hash of vocab.json + merges.txt.
 * The directory is written to a temporary sibling and renamed into place, so
 * an interrupted run never leaves a half-written tokenizer.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../pipeline/errors.ts';
import { writeDirAtomic } from '../util/atomic.ts';
import { bytesToUnicode, unicodeToBytes } from './byte-unicode.ts';

/** What a tokenizer is made of, in memory. */
export interface TokenizerData {
  /** id -> bytes (special tokens as their UTF-8 bytes). */
  vocab: Map<number, Uint8Array>;
  merges: Array<[Uint8Array, Uint8Array]>;
  specialTokens: string[];
}

/** The contents of `lmpipe.json`. */
export interface TokenizerMeta {
  format: 'lmpipe-bpe-tokenizer';
  version: 1;
  vocabSize: number;
  merges: number;
  specialTokens: Array<{ token: string; id: number }>;
  /**
   * Ids whose bytes equal an earlier id's (BPE can build one byte string by
   * two different merges); vocab.json, a map from string, keeps the first.
   */
  aliases: Record<string, number>;
  /** sha256 over vocab.json and merges.txt as written. */
  contentHash: string;
  training?: unknown;
}

const VOCAB = 'vocab.json';
const MERGES = 'merges.txt';
const HF = 'tokenizer.json';
const META = 'lmpipe.json';

/** vocab.json text: {string: id}, ids ascending; returns the aliases it had to drop. */
export function vocabJson(vocab: Map<number, Uint8Array>): { text: string; aliases: Record<string, number> } {
  const first = new Map<string, number>();
  const aliases: Record<string, number> = {};
  const lines: string[] = [];
  for (const id of [...vocab.keys()].sort((a, b) => a - b)) {
    const s = bytesToUnicode(vocab.get(id) as Uint8Array);
    const seen = first.get(s);
    if (seen !== undefined) {
      aliases[String(id)] = seen;
      continue;
    }
    first.set(s, id);
    lines.push(`${JSON.stringify(s)}: ${id}`);
  }
  return { text: `{\n${lines.join(',\n')}\n}\n`, aliases };
}

/** merges.txt text: one `A B` line per merge. */
export function mergesTxt(merges: ReadonlyArray<readonly [Uint8Array, Uint8Array]>): string {
  let out = '';
  for (const [a, b] of merges) out += `${bytesToUnicode(a)} ${bytesToUnicode(b)}\n`;
  return out;
}

/** A HuggingFace `tokenizers` tokenizer.json (ByteLevel BPE; specials as added tokens). */
export function huggingFaceJson(data: TokenizerData): string {
  const specialIds = new Map<string, number>();
  for (const [id, bytes] of data.vocab) {
    const s = Buffer.from(bytes).toString('utf8');
    if (data.specialTokens.includes(s) && !specialIds.has(s) && id < data.specialTokens.length) specialIds.set(s, id);
  }
  const model: Record<string, number> = {};
  for (const id of [...data.vocab.keys()].sort((a, b) => a - b)) {
    const s = bytesToUnicode(data.vocab.get(id) as Uint8Array);
    if (!Object.hasOwn(model, s)) model[s] = id;
  }
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: data.specialTokens.map((content) => ({
      id: specialIds.get(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: null,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: model,
      merges: data.merges.map(([a, b]) => [bytesToUnicode(a), bytesToUnicode(b)]),
    },
  };
  return JSON.stringify(json) + '\n';
}

/**
 * Writes vocab.json, merges.txt, tokenizer.json and lmpipe.json into `dir`
 * atomically (an existing tokenizer there is replaced only on success).
 * Returns the metadata written.
 */
export async function writeTokenizerDir(dir: string, data: TokenizerData, training?: unknown): Promise<TokenizerMeta> {
  const { text: vocabText, aliases } = vocabJson(data.vocab);
  const mergesText = mergesTxt(data.merges);
  const hash = createHash('sha256').update(vocabText).update(mergesText).digest('hex');
  const specialTokens = data.specialTokens.map((token) => {
    const bytes = Buffer.from(token, 'utf8');
    let id = -1;
    for (const [i, b] of data.vocab) if (i < data.specialTokens.length && Buffer.compare(Buffer.from(b), bytes) === 0) { id = i; break; }
    return { token, id };
  });
  const meta: TokenizerMeta = {
    format: 'lmpipe-bpe-tokenizer',
    version: 1,
    vocabSize: data.vocab.size,
    merges: data.merges.length,
    specialTokens,
    aliases,
    contentHash: `sha256:${hash}`,
    ...(training === undefined ? {} : { training }),
  };
  await writeDirAtomic(dir, (tmp) => {
    writeFileSync(join(tmp, VOCAB), vocabText);
    writeFileSync(join(tmp, MERGES), mergesText);
    writeFileSync(join(tmp, HF), huggingFaceJson(data));
    writeFileSync(join(tmp, META), JSON.stringify(meta, null, 2) + '\n');
  });
  return meta;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`cannot read ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message}`);
  }
}

/** Parses a GPT-2 style vocab.json ({string: id}) into id -> bytes. */
export function parseVocabJson(text: string, path = VOCAB): Map<number, Uint8Array> {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path} is not valid JSON (${(e as Error).message}); regenerate the tokenizer`);
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new UserError(`${path} must hold a JSON object {token: id}`);
  }
  const vocab = new Map<number, Uint8Array>();
  for (const [token, id] of Object.entries(obj as Record<string, unknown>)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new UserError(`${path}: token ${JSON.stringify(token)} has id ${JSON.stringify(id)}, expected a whole number >= 0`);
    }
    if (vocab.has(id)) throw new UserError(`${path}: id ${id} is used by two tokens; every id must be unique`);
    let bytes: Uint8Array;
    try {
      bytes = unicodeToBytes(token);
    } catch (e) {
      throw new UserError(`${path}: token ${JSON.stringify(token)}: ${(e as Error).message}`);
    }
    vocab.set(id, bytes);
  }
  return vocab;
}

/**
 * Parses merges.txt: one `A B` pair per line in GPT-2 byte-table spelling.
 * Empty lines and a leading `#version` line are skipped; any other line that
 * is not exactly two tokens separated by one space is an error naming it.
 */
export function parseMergesTxt(text: string, path = MERGES): Array<[Uint8Array, Uint8Array]> {
  const merges: Array<[Uint8Array, Uint8Array]> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '');
    if (line.trim() === '') continue;
    if (i === 0 && line.startsWith('#version')) continue;
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new UserError(`${path}:${i + 1}: malformed merge ${JSON.stringify(line)}: expected two tokens separated by one space`);
    }
    try {
      merges.push([unicodeToBytes(parts[0]), unicodeToBytes(parts[1])]);
    } catch (e) {
      throw new UserError(`${path}:${i + 1}: ${(e as Error).message}`);
    }
  }
  return merges;
}

/** Reads a GPT-2 style vocab.json + merges.txt pair (e.g. the CS336 GPT-2 fixtures). */
export function readGpt2Files(vocabPath: string, mergesPath: string): { vocab: Map<number, Uint8Array>; merges: Array<[Uint8Array, Uint8Array]> } {
  return {
    vocab: parseVocabJson(readText(vocabPath, 'vocab file'), vocabPath),
    merges: parseMergesTxt(readText(mergesPath, 'merges file'), mergesPath),
  };
}

/**
 * Reads a tokenizer directory written by `writeTokenizerDir` (or any folder
 * with a GPT-2 style vocab.json + merges.txt; special tokens then come from
 * `specialTokens`). Checks the content hash when lmpipe.json is present.
 */
export function readTokenizerDir(dir: string, specialTokens: readonly string[] = []): TokenizerData & { meta: TokenizerMeta | null } {
  const vocabPath = join(dir, VOCAB);
  const mergesPath = join(dir, MERGES);
  const vocabText = readText(vocabPath, 'vocab file');
  const mergesText = readText(mergesPath, 'merges file');
  const vocab = parseVocabJson(vocabText, vocabPath);
  const merges = parseMergesTxt(mergesText, mergesPath);
  const metaPath = join(dir, META);
  let meta: TokenizerMeta | null = null;
  let specials = [...specialTokens];
  if (existsSync(metaPath)) {
    try {
      meta = JSON.parse(readText(metaPath, 'metadata file')) as TokenizerMeta;
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`${metaPath} is not valid JSON (${(e as Error).message}); delete it or regenerate the tokenizer`);
    }
    const hash = `sha256:${createHash('sha256').update(vocabText).update(mergesText).digest('hex')}`;
    if (meta.contentHash !== hash) {
      throw new UserError(`${dir}: vocab.json/merges.txt do not match the content hash in lmpipe.json (edited after training?); retrain, or delete lmpipe.json to use the files as they are`);
    }
    for (const [id, first] of Object.entries(meta.aliases ?? {})) {
      const bytes = vocab.get(first);
      if (bytes) vocab.set(Number(id), bytes);
    }
    specials = meta.specialTokens.map((s) => s.token);
  }
  return { vocab, merges, specialTokens: specials, meta };
}
