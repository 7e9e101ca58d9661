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
 *                  stats, and the tokenizer identity (`tokenizerHash`, see
 *                  tokenizer-identity.ts), checked when the files are read.
 * The directory is written to a temporary sibling and renamed into place, so
 * an interrupted run never leaves a half-written tokenizer.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../pipeline/errors.ts';
import { writeDirAtomic, writeFileDurable } from '../util/atomic.ts';
import { listSome, visibleEntries } from '../util/output-guard.ts';
import type { InputSpec } from '../util/output-guard.ts';
import { UNICODE_TO_BYTE, bytesToUnicode } from './byte-unicode.ts';
import { nativeGpt2Tables } from './native-tokenizer.ts';
import { tokenizerIdentity } from './tokenizer-identity.ts';

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
  /** 2: `tokenizerHash`; version 1 files carried `contentHash` (sha256 of vocab.json + merges.txt) instead. */
  version: 2;
  vocabSize: number;
  merges: number;
  specialTokens: SpecialTokenEntry[];
  /**
   * Ids whose bytes equal an earlier id's (BPE can build one byte string by
   * two different merges); vocab.json, a map from string, keeps the first.
   */
  aliases: Record<string, number>;
  /** The tokenizer identity (tokenizer-identity.ts): `sha256:` + 64 hex digits. */
  tokenizerHash: string;
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

/**
 * A HuggingFace `tokenizers` tokenizer.json (ByteLevel BPE; specials as added
 * tokens). `specialsFrom`: where to look up the special tokens' ids (default
 * `data.vocab`).
 */
export function huggingFaceJson(data: TokenizerData, specialsFrom: ReadonlyMap<number, Uint8Array> = data.vocab): string {
  const specialIds = new Map<string, number>();
  for (const [id, bytes] of specialsFrom) {
    if (id >= data.specialTokens.length) continue;
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
 * A growing UTF-8 byte buffer. The tokenizer files are built as bytes, not
 * as JS strings: joining strings keeps ropes and copies alive, which cost
 * about 75 bytes of memory per byte of vocabulary (3 GB for the 40 MB of
 * tokens learned from a 20 MB run of one letter); this keeps it near the
 * size of the files.
 */
class Utf8Builder {
  private buf = Buffer.allocUnsafeSlow(1 << 16);
  private len = 0;

  /** Appends `text` as UTF-8. */
  add(text: string): void {
    const need = this.len + (text.length < 1024 ? 3 * text.length : Buffer.byteLength(text, 'utf8'));
    if (need > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < need) cap *= 2;
      const bigger = Buffer.allocUnsafeSlow(cap);
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
    }
    this.len += this.buf.write(text, this.len, 'utf8');
  }

  /** The bytes written so far. */
  bytes(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/** Latin-1 string of bytes: an exact, compact Map key for a byte string. */
function bytesKey(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

/** Ids ascending, each with whether it is the first id of its byte string (vocab.json keeps only those). */
function vocabOrder(vocab: ReadonlyMap<number, Uint8Array>): Array<{ id: number; first: number }> {
  const firstOf = new Map<string, number>();
  return [...vocab.keys()].sort((a, b) => a - b).map((id) => {
    const key = bytesKey(vocab.get(id) as Uint8Array);
    const seen = firstOf.get(key);
    if (seen === undefined) firstOf.set(key, id);
    return { id, first: seen ?? id };
  });
}

/** `vocabJson` as UTF-8 bytes (the same text), built without holding it as strings. */
export function vocabJsonBytes(vocab: ReadonlyMap<number, Uint8Array>): { bytes: Buffer; aliases: Record<string, number> } {
  const aliases: Record<string, number> = {};
  const out = new Utf8Builder();
  out.add('{\n');
  let n = 0;
  for (const { id, first } of vocabOrder(vocab)) {
    if (first !== id) {
      aliases[String(id)] = first;
      continue;
    }
    if (n++ > 0) out.add(',\n');
    out.add(JSON.stringify(bytesToUnicode(vocab.get(id) as Uint8Array)));
    out.add(`: ${id}`);
  }
  out.add('\n}\n');
  return { bytes: out.bytes(), aliases };
}

/** `mergesTxt` as UTF-8 bytes (the same text). */
export function mergesTxtBytes(merges: ReadonlyArray<readonly [Uint8Array, Uint8Array]>): Buffer {
  const out = new Utf8Builder();
  for (const [a, b] of merges) {
    out.add(bytesToUnicode(a));
    out.add(' ');
    out.add(bytesToUnicode(b));
    out.add('\n');
  }
  return out.bytes();
}

/** True for a string that is an array index, which JSON.stringify puts first, in numeric order. */
function isArrayIndex(s: string): boolean {
  return /^(?:0|[1-9][0-9]{0,9})$/.test(s) && Number(s) <= 4294967294;
}

/** `huggingFaceJson` as UTF-8 bytes (the same text), with the vocabulary and merges streamed in. */
export function huggingFaceJsonBytes(data: TokenizerData): Buffer {
  // The small parts come from JSON.stringify itself; the vocabulary and the merges replace two markers.
  const skeleton = huggingFaceJson({ vocab: new Map(), merges: [], specialTokens: data.specialTokens }, data.vocab);
  const vocabMark = '"vocab":{}';
  const mergesMark = '"merges":[]';
  const v = skeleton.indexOf(vocabMark);
  const m = skeleton.indexOf(mergesMark, v);
  const out = new Utf8Builder();
  out.add(skeleton.slice(0, v));
  out.add('"vocab":{');
  // Object keys that are array indices (tokens such as "10") come first in numeric order, as JSON.stringify has them.
  const order = vocabOrder(data.vocab).filter((e) => e.first === e.id).map((e) => ({ id: e.id, text: '' }));
  const indices: Array<{ id: number; text: string }> = [];
  const others: Array<{ id: number; text: string }> = [];
  for (const e of order) {
    const b = data.vocab.get(e.id) as Uint8Array;
    const text = b.length <= 10 ? bytesToUnicode(b) : '';
    if (text !== '' && isArrayIndex(text)) indices.push({ id: e.id, text });
    else others.push(e);
  }
  indices.sort((x, y) => Number(x.text) - Number(y.text));
  let n = 0;
  for (const e of [...indices, ...others]) {
    if (n++ > 0) out.add(',');
    out.add(JSON.stringify(e.text !== '' ? e.text : bytesToUnicode(data.vocab.get(e.id) as Uint8Array)));
    out.add(`:${e.id}`);
  }
  out.add('}');
  out.add(skeleton.slice(v + vocabMark.length, m));
  out.add('"merges":[');
  data.merges.forEach(([a, b], k) => {
    out.add(k > 0 ? ',[' : '[');
    out.add(JSON.stringify(bytesToUnicode(a)));
    out.add(',');
    out.add(JSON.stringify(bytesToUnicode(b)));
    out.add(']');
  });
  out.add(']');
  out.add(skeleton.slice(m + mergesMark.length));
  return out.bytes();
}

/** The files of tokenizer directory `dir` that exist, as inputs for guardOutputs. */
export function tokenizerInputs(dir: string): InputSpec[] {
  return [VOCAB, MERGES, HF, META].map((n) => join(dir, n)).filter((p) => existsSync(p)).map((p) => ({ path: p, what: '--tokenizer file' }));
}

/**
 * Why `dir` is not a tokenizer directory that train-bpe wrote, or null when
 * it is one (it holds only vocab.json, merges.txt, tokenizer.json and an
 * lmpipe.json of this format): what train-bpe may replace without --force.
 */
export function notTrainBpeOutput(dir: string): string | null {
  const names = visibleEntries(dir);
  const others = names.filter((n) => ![VOCAB, MERGES, HF, META].includes(n));
  if (others.length > 0) return `it holds ${listSome(others)}`;
  if (!names.includes(META)) return `it has no ${META}`;
  try {
    if ((JSON.parse(readFileSync(join(dir, META), 'utf8')) as { format?: unknown }).format === 'lmpipe-bpe-tokenizer') return null;
  } catch {
    // unreadable: not ours
  }
  return `its ${META} is not train-bpe's`;
}

/**
 * Writes vocab.json, merges.txt, tokenizer.json and lmpipe.json into `dir`
 * atomically (an existing tokenizer there is replaced only on success;
 * `keepOthers`: other files in `dir` are kept, for train-bpe --force).
 * Returns the metadata written.
 */
export async function writeTokenizerDir(dir: string, data: TokenizerData, training?: unknown, opts: { keepOthers?: boolean } = {}): Promise<TokenizerMeta> {
  const { bytes: vocabText, aliases } = vocabJsonBytes(data.vocab);
  const mergesText = mergesTxtBytes(data.merges);
  // The identity of the files as a reader will load them (the same path as Tokenizer.fromDir).
  const tables = gpt2Tables(vocabText, join(dir, VOCAB), mergesText, join(dir, MERGES), aliases);
  const specialTokens = data.specialTokens.map((token) => {
    const bytes = Buffer.from(token, 'utf8');
    let id = -1;
    for (const [i, b] of data.vocab) if (i < data.specialTokens.length && Buffer.compare(Buffer.from(b), bytes) === 0) { id = i; break; }
    return { token, id };
  });
  const meta: TokenizerMeta = {
    format: 'lmpipe-bpe-tokenizer',
    version: 2,
    vocabSize: data.vocab.size,
    merges: data.merges.length,
    specialTokens,
    aliases,
    tokenizerHash: tokenizerIdentity(tables, data.specialTokens),
    ...(training === undefined ? {} : { training }),
  };
  // Everything is serialized first: the temporary directory then exists only for the few
  // milliseconds of writing, during which this process cannot answer a signal.
  const hfText = huggingFaceJsonBytes(data);
  const metaText = JSON.stringify(meta, null, 2) + '\n';
  await writeDirAtomic(dir, (tmp) => {
    writeFileDurable(join(tmp, VOCAB), vocabText);
    writeFileDurable(join(tmp, MERGES), mergesText);
    writeFileDurable(join(tmp, HF), hfText);
    writeFileDurable(join(tmp, META), metaText);
  }, { keepOthers: opts.keepOthers });
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
    if (code === 'EISDIR') throw new UserError(`${what} ${path} is a directory, not a file; put the ${what} there (or pass the tokenizer directory that holds it)`);
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

/**
 * The tables of a vocab.json + merges.txt pair: read by the native addon
 * when it is built and the files are plainly well-formed (~10x faster at
 * start-up), else by the TypeScript reader below, the reference, which also
 * gives every error. The two give equal tables (test/tokenizer-files-native.test.ts).
 */
export function gpt2Tables(vocabFile: Buffer, vocabPath: string, mergesFile: Buffer, mergesPath: string, aliases: Readonly<Record<string, number>>): TokenizerTables {
  const fast = Object.keys(aliases).length === 0 ? nativeGpt2Tables(vocabFile, mergesFile) : null;
  return fast ?? gpt2TablesTs(vocabFile, vocabPath, mergesFile, mergesPath, aliases);
}

/** gpt2Tables by the TypeScript reader (the reference). */
export function gpt2TablesTs(vocabFile: Buffer, vocabPath: string, mergesFile: Buffer, mergesPath: string, aliases: Readonly<Record<string, number>>): TokenizerTables {
  const vocab = parseVocabJson(vocabFile.toString('utf8'), vocabPath, aliases);
  const merges = parseMergesTxt(mergesFile.toString('utf8'), mergesPath, vocab.ids);
  return { pool: vocab.pool, offsets: vocab.offsets, merges };
}

/**
 * Reads a tokenizer directory: `vocab.json` + `merges.txt`, with the special
 * tokens and id aliases of `lmpipe.json` when train-bpe wrote one (a GPT-2
 * pair alone works too). The tokenizer identity in lmpipe.json is checked
 * (or, in a version 1 lmpipe.json, its sha256 of the two files), so files
 * edited after training are not silently used with stale metadata.
 */
export function readTokenizerDir(dir: string): TokenizerDir {
  if (!existsSync(dir)) throw new UserError(`tokenizer directory ${dir} does not exist (pass --tokenizer DIR holding vocab.json and merges.txt, e.g. one written by pipelines/train-bpe.ts)`);
  if (!statSync(dir).isDirectory()) {
    const inDir = [VOCAB, MERGES, META].includes(basename(dir)) ? `: pass its directory ${dirname(dir)}` : '';
    throw new UserError(`--tokenizer ${dir} is a file, not a tokenizer directory${inDir} (a directory holding vocab.json and merges.txt, or a HuggingFace tokenizer.json)`);
  }
  const vocabPath = join(dir, VOCAB);
  const mergesPath = join(dir, MERGES);
  const meta = readMeta(join(dir, META));
  const vocabFile = readBytes(vocabPath, 'vocabulary file');
  const mergesFile = readBytes(mergesPath, 'merges file');
  // lmpipe.json version 1 recorded a sha256 of the two files instead of the identity.
  if (meta && typeof meta.tokenizerHash !== 'string' && typeof meta.contentHash === 'string') {
    const hash = `sha256:${createHash('sha256').update(vocabFile).update(mergesFile).digest('hex')}`;
    if (hash !== meta.contentHash) {
      throw new UserError(`${dir}: vocab.json/merges.txt do not match the content hash in lmpipe.json (edited after training?); retrain, or delete lmpipe.json to use the files as they are`);
    }
  }
  const tables = gpt2Tables(vocabFile, vocabPath, mergesFile, mergesPath, meta?.aliases ?? {});
  const specialTokens = meta?.specialTokens ?? [];
  if (meta && typeof meta.tokenizerHash === 'string') checkIdentity(tables, specialTokens, meta.tokenizerHash, `${dir}: vocab.json/merges.txt`);
  return { tables, specialTokens };
}

/** Throws when the tokenizer read does not have the identity lmpipe.json records. */
function checkIdentity(tables: TokenizerTables, specialTokens: readonly SpecialTokenEntry[], recorded: string, what: string): void {
  const actual = tokenizerIdentity(tables, specialTokens.map((s) => s.token));
  if (actual !== recorded) {
    throw new UserError(`${what} do not match the content hash in lmpipe.json (tokenizerHash ${recorded}, the files give ${actual}; edited after training?); retrain, or delete lmpipe.json to use the files as they are`);
  }
}

/**
 * Reads a HuggingFace `tokenizers` tokenizer.json holding a byte-level BPE
 * (as train-bpe writes it, or GPT-2's): `model.vocab`, `model.merges` (as
 * "A B" strings or [A, B] pairs) and the `added_tokens` (kept whole, like
 * special tokens), in order.
 * tokenizer.json cannot list alias ids (see TokenizerMeta), so those come
 * from an lmpipe.json beside it, whose tokenizer identity is then checked too.
 */
export function readHuggingFaceJson(path: string): TokenizerDir {
  let json: { model?: { type?: unknown; vocab?: unknown; merges?: unknown }; pre_tokenizer?: unknown; added_tokens?: unknown };
  try {
    json = JSON.parse(readBytes(path, 'tokenizer file').toString('utf8')) as typeof json;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${path} is not valid JSON (${(e as Error).message}); expected a HuggingFace tokenizer.json`);
  }
  if (basename(path) === VOCAB && json !== null && typeof json === 'object' && json.model === undefined) {
    throw new UserError(`${path} is a vocab.json, not a tokenizer.json: pass its directory ${dirname(path)} (holding vocab.json and merges.txt) as the tokenizer`);
  }
  const model = json?.model;
  if (!model || model.type !== 'BPE' || (json.pre_tokenizer != null && !JSON.stringify(json.pre_tokenizer).includes('"ByteLevel"'))) {
    throw new UserError(`${path}: only byte-level BPE tokenizer.json files are supported (model.type "BPE" with a ByteLevel pre-tokenizer, as GPT-2 and train-bpe write them)`);
  }
  if (!Array.isArray(model.merges)) throw new UserError(`${path}: model.merges must be an array`);
  const mergeLines = model.merges.map((m: unknown, i: number) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') return `${m[0]} ${m[1]}`;
    throw new UserError(`${path}: model.merges[${i}] must be "A B" or ["A", "B"]`);
  });
  const metaPath = join(dirname(path), META);
  const meta = readMeta(metaPath);
  const vocab = vocabTables(model.vocab, `${path} (model.vocab)`, meta?.aliases ?? {});
  const tables = { pool: vocab.pool, offsets: vocab.offsets, merges: parseMergesTxt(mergeLines.join('\n'), `${path} (model.merges)`, vocab.ids) };
  const added = Array.isArray(json.added_tokens) ? json.added_tokens as Array<{ content?: unknown; id?: unknown; special?: unknown }> : [];
  const specialTokens = added
    .filter((t) => t && typeof t.content === 'string')
    .map((t) => ({ token: t.content as string, id: typeof t.id === 'number' ? t.id : -1 }));
  if (meta && typeof meta.tokenizerHash === 'string') checkIdentity(tables, specialTokens, meta.tokenizerHash, `${path}: the tokenizer`);
  return { tables, specialTokens };
}

/** The parts of lmpipe.json that reading uses, checked; null when there is none. */
function readMeta(path: string): { specialTokens: SpecialTokenEntry[]; aliases: Record<string, number>; tokenizerHash: unknown; contentHash: unknown } | null {
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
  return { specialTokens, aliases, tokenizerHash: json.tokenizerHash, contentHash: json.contentHash };
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
  return vocabTables(json, path, aliases);
}

/** Throws unless every character of a vocab.json token is in the GPT-2 byte table. */
function checkTokenSpelling(token: string, path: string): void {
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (!(c < 512 && UNICODE_TO_BYTE[c] >= 0)) {
      throw new UserError(`${path}: token ${JSON.stringify(token.slice(0, 80))} has character U+${c.toString(16).padStart(4, '0')}, which is not in the GPT-2 byte table (is this a GPT-2 byte-level vocab.json?)`);
    }
  }
}

/**
 * A byte-level BPE vocabulary has a token for each of the 256 bytes (else
 * some text cannot be encoded at all): checked at load, not mid-encode.
 */
function checkByteTokens(pool: Uint8Array, offsets: Uint32Array, path: string): void {
  const have = new Uint8Array(256);
  for (let id = 0; id + 1 < offsets.length; id++) if (offsets[id + 1] - offsets[id] === 1) have[pool[offsets[id]]] = 1;
  const missing: number[] = [];
  for (let b = 0; b < 256; b++) if (!have[b]) missing.push(b);
  if (missing.length === 0) return;
  const name = (b: number): string => `0x${b.toString(16).padStart(2, '0')} (${JSON.stringify(bytesToUnicode(Uint8Array.of(b)))})`;
  const more = missing.length > 1 ? ` and ${missing.length - 1} more byte(s)` : '';
  throw new UserError(`${path}: no token for byte ${name(missing[0])}${more}: a byte-level BPE vocabulary needs one token for each of the 256 bytes, or some text cannot be encoded; add them (spelled with the GPT-2 byte table) or use the vocabulary this tokenizer was trained with`);
}

/** A parsed vocab.json object (token string -> id) as a byte pool. */
function vocabTables(json: unknown, path: string, aliases: Readonly<Record<string, number>>): Gpt2Vocab {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new UserError(`${path} must hold a JSON object mapping token strings to integer ids`);
  }
  const obj = json as Record<string, unknown>;
  // One pass over the keys (no [token, id] pair per entry: start-up with the
  // GPT-2 vocabulary is a file read away from the first encoded byte).
  const tokens = Object.keys(obj);
  // Aliases: ids whose bytes equal an earlier id's (vocab.json, keyed by string, holds only the first).
  const aliasList = Object.entries(aliases).map(([id, first]) => [Number(id), first] as const);
  // Ids run 0..n-1 with n the number of entries (and aliases): checked before any
  // allocation by id, so an id such as 2147483647 cannot claim a huge vocabulary.
  const size = tokens.length + aliasList.length;
  const ids = new Map<string, number>();
  const lens = new Int32Array(size).fill(-1);
  const tokenOf: string[] = new Array<string>(size);
  for (const token of tokens) {
    const id = obj[token];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new UserError(`${path}: token ${JSON.stringify(token)} has id ${JSON.stringify(id)}; ids must be non-negative integers`);
    }
    checkTokenSpelling(token, path);
    if (id >= size) {
      throw new UserError(`${path}: token ${JSON.stringify(token.slice(0, 80))} has id ${id}, but the file has ${tokens.length} tokens${aliasList.length > 0 ? ` (and lmpipe.json ${aliasList.length} aliases)` : ''}, so ids must run 0..${size - 1}, each used once; renumber the vocabulary or use the files it came with`);
    }
    if (lens[id] >= 0) {
      throw new UserError(`${path}: id ${id} is used by two tokens (${JSON.stringify(tokenOf[id].slice(0, 40))} and ${JSON.stringify(token.slice(0, 40))}); each id must appear once`);
    }
    lens[id] = token.length;
    tokenOf[id] = token;
    ids.set(token, id);
  }
  for (const [id, first] of aliasList) {
    if (!(Number.isInteger(id) && id >= 0 && id < size)) {
      throw new UserError(`${path}: alias ${JSON.stringify(id)} -> ${JSON.stringify(first)} in lmpipe.json is not an id of this vocabulary (0..${size - 1}); regenerate the tokenizer`);
    }
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
  // Every character was checked by checkTokenSpelling above.
  for (let id = 0; id < size; id++) {
    const token = tokenOf[id];
    if (token === undefined) continue;
    let at = offsets[id];
    for (let i = 0; i < token.length; i++) pool[at++] = UNICODE_TO_BYTE[token.charCodeAt(i)];
  }
  for (const [id, first] of aliasList) pool.copyWithin(offsets[id], offsets[first], offsets[first + 1]);
  checkByteTokens(pool, offsets, path);
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
    const sp = line.indexOf(' ');
    if (sp <= 0 || sp === line.length - 1 || line.indexOf(' ', sp + 1) >= 0) {
      throw new UserError(`${path}:${i + 1}: malformed merge line ${JSON.stringify(line.slice(0, 80))}: expected two tokens separated by one space`);
    }
    const a = line.slice(0, sp);
    const b = line.slice(sp + 1);
    const ia = ids.get(a);
    const ib = ids.get(b);
    const ic = ids.get(a + b);
    if (ia === undefined || ib === undefined || ic === undefined) {
      const t = ia === undefined ? a : ib === undefined ? b : a + b;
      throw new UserError(`${path}:${i + 1}: token ${JSON.stringify(t)} of merge ${JSON.stringify(line)} is not in vocab.json; the merges file does not belong to this vocabulary`);
    }
    triples[n++] = ia;
    triples[n++] = ib;
    triples[n++] = ic;
  }
  return triples.slice(0, n);
}
