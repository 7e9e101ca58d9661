/**
 * Tokenizer files on disk, both directions (reading into the compact tables
 * the tokenizer is built from).
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
import { UNICODE_TO_BYTE, bytesToUnicode } from './byte-unicode.ts';

/** What a tokenizer is made of, in memory. */
export interface TokenizerData {
  /** id -> bytes (special tokens as their UTF-8 bytes). */
  vocab: Map<number, Uint8Array>;
  merges: Array<[Uint8Array, Uint8Array]>;
  specialTokens: string[];
}

/** A special token as lmpipe.json records it (id -1: not recorded). */
export interface SpecialTokenEntry {
  token: string;
  id: number;
}

/** The contents of `lmpipe.json`. */
export interface TokenizerMeta {
  format: 'lmpipe-bpe-tokenizer';
  version: 1;
  vocabSize: number;
  merges: number;
  specialTokens: SpecialTokenEntry[];
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

/**
 * The tokenizer's tables in compact form: token bytes in one pool (no array
 * per token, so loading GPT-2 stays light in memory), merges as id triples.
 * The file readers and `Tokenizer.fromVocabMerges` all build these, so a
 * tokenizer and its hash do not depend on how it was loaded.
 */
export interface TokenizerTables {
  /** Bytes of all regular tokens; token i is pool[offsets[i], offsets[i + 1]). */
  pool: Uint8Array;
  /** vocabulary size + 1 offsets. */
  offsets: Uint32Array;
  /** Merges in rank order, three ids each: left, right, merged. */
  merges: Int32Array;
}

/** What a tokenizer directory holds. */
export interface TokenizerDir {
  tables: TokenizerTables;
  /** From lmpipe.json, in order; none without one. */
  specialTokens: SpecialTokenEntry[];
}

function readBytes(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${what} ${path} not found (a tokenizer needs vocab.json and merges.txt; train one with pipelines/train-bpe.ts or point at a GPT-2 vocab/merges pair)`);
    throw new UserError(`cannot read ${what} ${path}: ${code ?? (e as Error).message}`);
  }
}

/**
 * Reads a GPT-2 style `vocab.json` (token string -> id, strings written with
 * the GPT-2 byte table) and `merges.txt` (one `A B` pair per line), e.g. the
 * CS336 GPT-2 fixtures. As in CS336, every line that splits into exactly two
 * parts is a merge; blank lines and a leading `#version` line are skipped,
 * and any other line is an error naming its line number. `aliases` are ids
 * whose bytes equal an earlier id's (see TokenizerMeta).
 */
export function readGpt2Files(vocabPath: string, mergesPath: string, aliases: Readonly<Record<string, number>> = {}): TokenizerTables {
  return gpt2Tables(readBytes(vocabPath, 'vocabulary file'), vocabPath, readBytes(mergesPath, 'merges file'), mergesPath, aliases);
}

function gpt2Tables(vocabFile: Buffer, vocabPath: string, mergesFile: Buffer, mergesPath: string, aliases: Readonly<Record<string, number>>): TokenizerTables {
  const vocab = parseVocabJson(vocabFile.toString('utf8'), vocabPath, aliases);
  const merges = parseMergesTxt(mergesFile.toString('utf8'), mergesPath, vocab.ids);
  return { pool: vocab.pool, offsets: vocab.offsets, merges };
}

/**
 * Reads a tokenizer directory: `vocab.json` + `merges.txt`, with the special
 * tokens and id aliases of `lmpipe.json` when train-bpe wrote one (a GPT-2
 * pair alone works too). The content hash in lmpipe.json is checked, so files
 * edited after training are not silently used with stale metadata.
 */
export function readTokenizerDir(dir: string): TokenizerDir {
  if (!existsSync(dir)) throw new UserError(`tokenizer directory ${dir} does not exist (pass --tokenizer DIR holding vocab.json and merges.txt, e.g. one written by pipelines/train-bpe.ts)`);
  const vocabPath = join(dir, VOCAB);
  const mergesPath = join(dir, MERGES);
  const meta = readMeta(join(dir, META));
  const vocabFile = readBytes(vocabPath, 'vocabulary file');
  const mergesFile = readBytes(mergesPath, 'merges file');
  if (meta && typeof meta.contentHash === 'string') {
    const hash = `sha256:${createHash('sha256').update(vocabFile).update(mergesFile).digest('hex')}`;
    if (hash !== meta.contentHash) {
      throw new UserError(`${dir}: vocab.json/merges.txt do not match the content hash in lmpipe.json (edited after training?); retrain, or delete lmpipe.json to use the files as they are`);
    }
  }
  const tables = gpt2Tables(vocabFile, vocabPath, mergesFile, mergesPath, meta?.aliases ?? {});
  return { tables, specialTokens: meta?.specialTokens ?? [] };
}

/** The parts of lmpipe.json that reading uses, checked; null when there is none. */
function readMeta(path: string): { specialTokens: SpecialTokenEntry[]; aliases: Record<string, number>; contentHash: unknown } | null {
  if (!existsSync(path)) return null;
  let json: Record<string, unknown>;
  try {
    json = (JSON.parse(readFileSync(path, 'utf8')) ?? {}) as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${path} is not valid JSON (${(e as Error).message}); delete it or regenerate the tokenizer`);
  }
  const list = json.specialTokens ?? [];
  if (!Array.isArray(list)) throw new UserError(`${path}: "specialTokens" must be an array`);
  const specialTokens = list.map((s: unknown): SpecialTokenEntry => {
    if (typeof s === 'string') return { token: s, id: -1 };
    const o = s as { token?: unknown; id?: unknown };
    if (o && typeof o.token === 'string') return { token: o.token, id: typeof o.id === 'number' ? o.id : -1 };
    throw new UserError(`${path}: "specialTokens" entries must be strings or {"token", "id"} objects`);
  });
  const aliases = (json.aliases ?? {}) as Record<string, number>;
  return { specialTokens, aliases, contentHash: json.contentHash };
}

/** A parsed vocab.json: token bytes by id, and id by token string (as written in the file). */
interface Gpt2Vocab {
  pool: Uint8Array;
  offsets: Uint32Array;
  ids: Map<string, number>;
}

/**
 * Parses vocab.json straight into a byte pool (no per-token arrays). Every
 * token string is decoded through the GPT-2 byte table.
 */
function parseVocabJson(text: string, path: string, aliases: Readonly<Record<string, number>>): Gpt2Vocab {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path} is not valid JSON (${(e as Error).message}); expected an object mapping token strings to ids`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new UserError(`${path} must hold a JSON object mapping token strings to integer ids`);
  }
  const ids = new Map<string, number>();
  let size = 0;
  for (const [token, id] of Object.entries(json as Record<string, unknown>)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new UserError(`${path}: token ${JSON.stringify(token)} has id ${JSON.stringify(id)}; ids must be non-negative integers`);
    }
    ids.set(token, id);
    size = Math.max(size, id + 1);
  }
  // Aliases: ids whose bytes equal an earlier id's (vocab.json, keyed by string, holds only the first).
  const aliasList = Object.entries(aliases).map(([id, first]) => [Number(id), first] as const);
  for (const [id] of aliasList) size = Math.max(size, id + 1);
  const lens = new Int32Array(size).fill(-1);
  for (const [token, id] of ids) {
    if (lens[id] >= 0) throw new UserError(`${path}: id ${id} is used by two tokens; each id must appear once`);
    lens[id] = token.length;
  }
  for (const [id, first] of aliasList) {
    if (!(Number.isInteger(id) && id >= 0 && first >= 0 && first < size && lens[first] >= 0 && lens[id] < 0)) {
      throw new UserError(`${path}: alias ${id} -> ${first} in lmpipe.json does not fit vocab.json; regenerate the tokenizer`);
    }
    lens[id] = lens[first];
  }
  const offsets = new Uint32Array(size + 1);
  for (let id = 0; id < size; id++) offsets[id + 1] = offsets[id] + Math.max(0, lens[id]);
  const pool = new Uint8Array(offsets[size]);
  for (const [token, id] of ids) {
    let at = offsets[id];
    for (let i = 0; i < token.length; i++) {
      const c = token.charCodeAt(i);
      const b = c < 512 ? UNICODE_TO_BYTE[c] : -1;
      if (b < 0) {
        throw new UserError(`${path}: token ${JSON.stringify(token)} has character U+${c.toString(16).padStart(4, '0')}, which is not in the GPT-2 byte table (is this a GPT-2 byte-level vocab.json?)`);
      }
      pool[at++] = b;
    }
  }
  for (const [id, first] of aliasList) pool.copyWithin(offsets[id], offsets[first], offsets[first + 1]);
  return { pool, offsets, ids };
}

/**
 * Parses merges.txt into id triples. A merge line is `A B` (split on one
 * space after trimming the line end); blank lines and a leading `#version`
 * line are skipped, anything else is an error naming the line. The vocab
 * lookups use the file's own strings: since the byte table maps each byte to
 * one character, the merged token's string is A + B.
 */
function parseMergesTxt(text: string, path: string, ids: ReadonlyMap<string, number>): Int32Array {
  const all = text.split('\n');
  const triples = new Int32Array(all.length * 3);
  let n = 0;
  for (let i = 0; i < all.length; i++) {
    const line = all[i].trimEnd();
    if (line === '' || (i === 0 && line.startsWith('#version'))) continue;
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new UserError(`${path}:${i + 1}: malformed merge line ${JSON.stringify(line.slice(0, 80))}: expected two tokens separated by one space`);
    }
    const [a, b] = parts;
    for (const t of [a, b, a + b]) {
      if (!ids.has(t)) {
        throw new UserError(`${path}:${i + 1}: token ${JSON.stringify(t)} of merge ${JSON.stringify(line)} is not in vocab.json; the merges file does not belong to this vocabulary`);
      }
    }
    triples[n++] = ids.get(a) as number;
    triples[n++] = ids.get(b) as number;
    triples[n++] = ids.get(a + b) as number;
  }
  return triples.slice(0, n);
}
