/**
 * What a token file's ids mean, checked before anything is allocated: the
 * vocabulary and tokenizer its sidecar records, and, for a file without a
 * sidecar, an up-front scan of every id against the model's vocab_size
 * (src/train/preflight.ts runs these for train; eval and generate call
 * them directly). Files are read with the one token reader
 * (src/tokenizer/token-reader.ts).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../pipeline/errors.ts';
import { UINT16_VOCAB_LIMIT, itemBytes } from '../tokenizer/token-dtype.ts';
import type { TokenDtype } from '../tokenizer/token-dtype.ts';
import type { TokenFileMeta } from '../tokenizer/token-file.ts';
import { TokenFileReader, tokenFileMeta } from '../tokenizer/token-reader.ts';
import { isLegacyTokenizerHash } from '../tokenizer/tokenizer-identity.ts';
import { checkSameData, resolveTokenFiles } from './token-dataset.ts';

/**
 * The vocabulary a token file's ids come from, as its sidecar records it;
 * train stores the training data's in state.json (`token_data`) so that
 * eval and generate can refuse data or a tokenizer that means other ids.
 */
export interface TokenDataIdentity {
  vocab_size: number;
  tokenizer_hash: string;
  /** The special tokens the encoder used, in order (they are part of the hash). */
  special_tokens: string[];
}

/** The identity recorded in a sidecar. */
export function tokenDataOf(meta: TokenFileMeta): TokenDataIdentity {
  return { vocab_size: meta.vocabSize, tokenizer_hash: meta.tokenizerHash, special_tokens: Object.keys(meta.specialTokens ?? {}) };
}

/** The identity in the sidecar of token file `path`, or null without one. */
export function tokenDataOfFile(path: string): TokenDataIdentity | null {
  const meta = tokenFileMeta(resolveTokenFiles(path, 'train_data')[0]);
  return meta ? tokenDataOf(meta) : null;
}

const shortHash = (h: string): string => h.replace(/^sha256:/, '').slice(0, 12);

/**
 * Refuses ids from another tokenizer: `got` (a sidecar's or a loaded
 * tokenizer's vocabulary size and hash, named by `what`) must be `expected`
 * (named by `from`). Hashes are compared when both are of one kind (a
 * tokenizer identity, or both from before it, see tokenizer-identity.ts);
 * a loaded tokenizer passes `matches` (Tokenizer.matchesHash) instead. The
 * one check train (on resume), eval and generate share; `fix` ends the
 * message.
 */
export function checkSameTokenizer(what: string, got: { vocabSize: number; tokenizerHash: string; matches?: (recorded: string) => boolean }, expected: TokenDataIdentity, from: string, fix: string): void {
  const sameVocab = got.vocabSize === expected.vocab_size;
  const sameHash = got.matches ? got.matches(expected.tokenizer_hash)
    : isLegacyTokenizerHash(got.tokenizerHash) !== isLegacyTokenizerHash(expected.tokenizer_hash) || got.tokenizerHash === expected.tokenizer_hash;
  if (sameVocab && sameHash) return;
  const says = (vocab: number, hash: string): string => `${vocab} ids, tokenizer ${shortHash(hash)}…`;
  throw new UserError(`${what} is from another tokenizer than ${from} (${says(got.vocabSize, got.tokenizerHash)} vs ${says(expected.vocab_size, expected.tokenizer_hash)}); ${fix}`);
}

/** The first id at or above a limit in a token file, and the file's largest id. */
export interface IdScan {
  /** Token index of the first id >= the limit, or -1. */
  firstBad: number;
  firstBadId: number;
  maxId: number;
}

/** Ids per read of the scan (4 MB of uint16): bounded memory. */
const SCAN_CHUNK_IDS = 1 << 21;
const scans = new Map<string, IdScan>();

/**
 * Scans a token file, read as `dtype`, for ids >= `limit` in chunks
 * (bounded memory), remembering the result per file size and modification
 * time so a second check in the same process reads nothing.
 */
export function scanTokenIds(path: string, dtype: TokenDtype, limit: number): IdScan {
  const st = statSync(path);
  const key = `${path}\0${st.size}\0${st.mtimeMs}\0${dtype}\0${limit}`;
  const cached = scans.get(key);
  if (cached) return cached;
  const reader = new TokenFileReader(path, { dtype });
  let firstBad = -1;
  let firstBadId = 0;
  let maxId = 0;
  try {
    for (let base = 0; base < reader.length; base += SCAN_CHUNK_IDS) {
      const ids = reader.readIds(base, SCAN_CHUNK_IDS);
      let m = maxId;
      for (let i = 0; i < ids.length; i++) {
        const v = ids[i];
        if (v > m) {
          m = v;
          if (v >= limit && firstBad < 0) { firstBad = base + i; firstBadId = v; }
        }
      }
      maxId = m;
    }
  } finally {
    reader.close();
  }
  const result = { firstBad, firstBadId, maxId };
  scans.set(key, result);
  return result;
}

/** What a checked token file's ids must match, and who says so. */
export interface TokenExpectation {
  identity: TokenDataIdentity;
  /** Names the source in messages ("train_data out/train.bin", "checkpoint out/run1"). */
  from: string;
}

/** What `checkTokenFile` checks besides the ids fitting the model. */
export interface TokenFileCheck {
  /** The tokenizer the ids must come from, when known. */
  expected?: TokenExpectation | null;
  /** The fewest tokens the file must hold (context_length + 1 for one window). */
  minTokens?: number;
  /** Names a model that cannot change (a checkpoint): the fix is other data, not a larger vocab_size. */
  fixedModel?: string;
}

/**
 * Checks token file `path` (named `what`: "train_data", "--data", ...)
 * before it is used with a model of `modelVocab` ids: it must be a file of
 * at least `minTokens` tokens; with a sidecar, its vocabulary must fit the
 * model and, when `expected` is given, be the same tokenizer's; without
 * one, every id is scanned (scanTokenIds) and the first out-of-range one is
 * reported with its position. Returns the sidecar, or null without one.
 */
export function checkTokenFile(path: string, what: string, modelVocab: number, options: TokenFileCheck = {}): TokenFileMeta | null {
  // Many files (a directory of parts, a glob, a manifest): each is checked, the token count is their sum.
  const files = resolveTokenFiles(path, what);
  if (files.length > 1) {
    checkSameData(files, what);
    let first: TokenFileMeta | null = null;
    let tokens = 0;
    for (const f of files) {
      const m = checkTokenFile(f, what, modelVocab, { ...options, minTokens: undefined });
      first ??= m;
      tokens += Math.floor(statSync(f).size / itemBytes(m?.dtype ?? 'uint16'));
    }
    if (options.minTokens !== undefined && tokens < options.minTokens) {
      throw new UserError(`${what} ${path} has ${tokens} tokens in ${files.length} files, fewer than context_length + 1 = ${options.minTokens} for one window; use more data${options.fixedModel ? '' : ' or a shorter context_length'}`);
    }
    return first;
  }
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${what} ${path} not found; encode the text first (pipelines/encode.ts) or fix the path`);
    throw new UserError(`cannot read ${what} ${path}: ${code ?? (e as Error).message}`);
  }
  if (st.isDirectory()) {
    let inside: string[] = [];
    try { inside = readdirSync(path).filter((f) => f.endsWith('.bin')).slice(0, 3); } catch { /* unreadable: no hint */ }
    const hint = inside.length > 0 ? ` such as ${inside.map((f) => join(path, f)).join(', ')}` : ' (pipelines/encode.ts writes one)';
    throw new UserError(`${what} ${path} is a directory; give a token file${hint}`);
  }
  const meta = tokenFileMeta(path);
  const tokens = Math.floor(st.size / itemBytes(meta?.dtype ?? 'uint16'));
  if (options.minTokens !== undefined && tokens < options.minTokens) {
    throw new UserError(`${what} ${path} has ${tokens} tokens, fewer than context_length + 1 = ${options.minTokens} for one window; use more data${options.fixedModel ? '' : ' or a shorter context_length'}`);
  }
  const vocabFix = options.fixedModel
    ? `use data encoded with the tokenizer of ${options.fixedModel}`
    : undefined;
  if (meta) {
    if (options.expected) checkSameTokenizer(`${what} ${path}`, meta, options.expected.identity, options.expected.from, 're-encode it with that tokenizer (pipelines/encode.ts) or give data encoded with it');
    if (meta.vocabSize > modelVocab) {
      throw new UserError(`${what} ${path} was encoded with a ${meta.vocabSize}-id tokenizer but model.vocab_size is ${modelVocab}; ${vocabFix ?? `set model.vocab_size to at least ${meta.vocabSize}`}`);
    }
    return meta;
  }
  if (modelVocab >= UINT16_VOCAB_LIMIT) return null; // no uint16 id can be out of range
  const scan = scanTokenIds(path, 'uint16', modelVocab);
  if (scan.firstBad >= 0) {
    throw new UserError(`${what} ${path}: token ${scan.firstBad} has id ${scan.firstBadId}, outside the model's vocab_size ${modelVocab} (the file has no .json sidecar, so its ids were scanned; the largest is ${scan.maxId}); ${vocabFix ?? `set model.vocab_size to at least ${scan.maxId + 1}, or encode the data with the model's tokenizer`}`);
  }
  return null;
}
