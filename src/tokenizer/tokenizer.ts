/**
 * The byte-level BPE tokenizer: encodes text to token ids and decodes ids
 * back to text, exactly like the CS336 reference / GPT-2 (tested against
 * tiktoken), but fast: byte-level pretokenization, a bounded pretoken cache
 * and typed-array merge tables (see `bpe-encode.ts`).
 *
 * Ids come back as `number[]` from `encode` (like the reference's list[int])
 * and as `Uint32Array` from `encodeToIds`, which skips the array copy.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { UserError } from '../pipeline/errors.ts';
import { BpeEncoder, type EncoderSpec } from './bpe-encode.ts';
import { StreamEncoder } from './bpe-encode-stream.ts';
import { createUnitEncoder, type UnitEncoder } from './native-tokenizer.ts';
import type { SpecialToken } from './special-matcher.ts';
import { readGpt2Files, readHuggingFaceJson, readTokenizerDir, type SpecialTokenEntry, type TokenizerTables } from './tokenizer-files.ts';
import { isLegacyTokenizerHash, legacyTokenizerHash, tokenizerIdentity } from './tokenizer-identity.ts';

const utf8 = new TextEncoder();
/** Non-fatal decoder: malformed UTF-8 becomes U+FFFD per the WHATWG rules (= Python errors='replace'). */
const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** Latin-1 string of bytes: a cheap exact Map key for byte strings. */
function bytesKey(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

export class Tokenizer {
  /** Number of ids (regular vocabulary plus appended special tokens). */
  readonly vocabSize: number;
  /** Special tokens in the order given, with their ids. */
  readonly specialTokens: readonly SpecialToken[];
  /** Number of merges in use. */
  readonly mergeCount: number;
  private readonly pool: Uint8Array;
  private readonly offsets: Uint32Array;
  private readonly spec: EncoderSpec;
  /** The tables as given, before special tokens were appended (what the identity covers). */
  private readonly baseTables: TokenizerTables;
  private encoderInstance: BpeEncoder | null = null;
  private unitEncoderInstance: UnitEncoder | null = null;
  private hashHex: string | null = null;

  /**
   * Builds a tokenizer from compact tables. Special tokens found in the
   * vocabulary keep their id; the others get the next free ids, in order.
   */
  constructor(tables: TokenizerTables, specialTokens: readonly string[] = []) {
    const { offsets, merges } = tables;
    let pool = tables.pool;
    let size = offsets.length - 1;
    const specials: SpecialToken[] = [];
    const extra: Uint8Array[] = [];
    for (const text of specialTokens) {
      if (text.length === 0) throw new UserError('a special token cannot be the empty string; remove it from the special-token list');
      if (specials.some((s) => s.text === text)) continue;
      const bytes = utf8.encode(text);
      let id = findToken(pool, offsets, bytes);
      if (id < 0) {
        id = size + extra.length;
        extra.push(bytes);
      }
      specials.push({ text, id });
    }
    let allOffsets = offsets;
    if (extra.length > 0) {
      const added = extra.reduce((n, b) => n + b.length, 0);
      const grown = new Uint8Array(pool.length + added);
      grown.set(pool);
      allOffsets = new Uint32Array(size + extra.length + 1);
      allOffsets.set(offsets);
      let at = pool.length;
      for (const b of extra) {
        grown.set(b, at);
        at += b.length;
        allOffsets[++size] = at;
      }
      pool = grown;
    }
    this.vocabSize = size;
    this.specialTokens = specials;
    this.baseTables = tables;
    this.pool = pool;
    this.offsets = allOffsets;

    const byteToId = new Int32Array(256).fill(-1);
    for (let id = size - 1; id >= 0; id--) {
      if (allOffsets[id + 1] - allOffsets[id] === 1) byteToId[pool[allOffsets[id]]] = id;
    }
    this.mergeCount = merges.length / 3;
    this.spec = { vocabSize: size, byteToId, merges, specials };
  }

  /** The in-thread encoder, built on first use (a pipeline that encodes on workers never needs it). */
  private get encoder(): BpeEncoder {
    this.encoderInstance ??= new BpeEncoder(this.spec);
    return this.encoderInstance;
  }

  /**
   * The unit encoder of the streaming paths (`encode_iterable`, inspect's
   * sampling): the native core when the addon is built, else TypeScript (same ids).
   */
  private get unitEncoder(): UnitEncoder {
    this.unitEncoderInstance ??= createUnitEncoder(this.spec, 'auto');
    return this.unitEncoderInstance;
  }

  /**
   * Builds a tokenizer from a vocabulary (id -> bytes; an array is read as
   * ids 0..n-1) and merges (byte pairs in rank order), as BPE training
   * produces them. Each merge must name two vocabulary entries whose
   * concatenation is also one.
   */
  static fromVocabMerges(
    vocab: ReadonlyMap<number, Uint8Array> | readonly Uint8Array[],
    merges: ReadonlyArray<readonly [Uint8Array, Uint8Array]>,
    specialTokens: readonly string[] = [],
  ): Tokenizer {
    const entries: Array<[number, Uint8Array]> = Array.isArray(vocab)
      ? (vocab as readonly Uint8Array[]).map((b, i) => [i, b])
      : [...(vocab as ReadonlyMap<number, Uint8Array>)];
    let size = 0;
    const lens: number[] = [];
    for (const [id, bytes] of entries) {
      if (!Number.isInteger(id) || id < 0) throw new UserError(`vocabulary id ${id} is not a non-negative integer`);
      size = Math.max(size, id + 1);
      lens[id] = bytes.length;
    }
    const offsets = new Uint32Array(size + 1);
    for (let id = 0; id < size; id++) offsets[id + 1] = offsets[id] + (lens[id] ?? 0);
    const pool = new Uint8Array(offsets[size]);
    const index = new Map<string, number>();
    for (const [id, bytes] of entries) {
      pool.set(bytes, offsets[id]);
      const key = bytesKey(bytes);
      const prev = index.get(key);
      if (prev === undefined || id < prev) index.set(key, id);
    }
    const triples = new Int32Array(merges.length * 3);
    for (let k = 0; k < merges.length; k++) {
      const ka = bytesKey(merges[k][0]);
      const kb = bytesKey(merges[k][1]);
      const ids = [index.get(ka), index.get(kb), index.get(ka + kb)];
      const bad = ids.indexOf(undefined);
      if (bad >= 0) {
        const what = [ka, kb, ka + kb][bad];
        throw new UserError(`merge #${k + 1}: token ${JSON.stringify(what)} (latin-1 view of its bytes) is not in the vocabulary; the merges do not belong to this vocab`);
      }
      triples.set(ids as number[], 3 * k);
    }
    return new Tokenizer({ pool, offsets, merges: triples }, specialTokens);
  }

  /**
   * Reads a GPT-2 style `vocab.json` (token string -> id, strings written
   * with the GPT-2 byte table) and `merges.txt` (one `A B` pair per line).
   * As in CS336, every line that splits into exactly two parts is a merge;
   * blank lines and a leading `#version` line are skipped, and any other
   * line is an error naming its line number.
   */
  static fromFiles(vocabPath: string, mergesPath: string, specialTokens: readonly string[] = []): Tokenizer {
    return new Tokenizer(readGpt2Files(vocabPath, mergesPath), specialTokens);
  }

  /**
   * Loads a tokenizer directory (the layout of `tokenizer-files.ts`):
   * `vocab.json` + `merges.txt`, with the special tokens, id aliases and
   * tokenizer identity of `lmpipe.json` when train-bpe wrote one (a GPT-2
   * pair alone works too); or, given a path ending in .json, a HuggingFace
   * tokenizer.json (`fromTokenizerJson`). `extraSpecialTokens` are added
   * after those.
   */
  static fromDir(dir: string, extraSpecialTokens: readonly string[] = []): Tokenizer {
    if (dir.endsWith('.json') && isFile(dir)) return Tokenizer.fromTokenizerJson(dir, extraSpecialTokens);
    const { tables, specialTokens } = readTokenizerDir(dir);
    return Tokenizer.withRecordedSpecials(tables, specialTokens, extraSpecialTokens, join(dir, 'lmpipe.json'), 'vocab.json');
  }

  /**
   * Loads a HuggingFace `tokenizer.json` (byte-level BPE, e.g. the one
   * train-bpe writes beside vocab.json): the same tokenizer, and the same
   * `hash()`, as loading its directory. Its added tokens are the special
   * tokens; `extraSpecialTokens` are added after those.
   */
  static fromTokenizerJson(path: string, extraSpecialTokens: readonly string[] = []): Tokenizer {
    const { tables, specialTokens } = readHuggingFaceJson(path);
    return Tokenizer.withRecordedSpecials(tables, specialTokens, extraSpecialTokens, path, 'model.vocab');
  }

  /** A tokenizer whose recorded special-token ids (id -1: none) must come out as recorded. */
  private static withRecordedSpecials(tables: TokenizerTables, recorded: readonly SpecialTokenEntry[], extra: readonly string[], where: string, vocabName: string): Tokenizer {
    const tok = new Tokenizer(tables, [...recorded.map((s) => s.token), ...extra]);
    for (const s of recorded) {
      if (s.id >= 0 && tok.specialId(s.token) !== s.id) {
        throw new UserError(`${where}: special token ${JSON.stringify(s.token)} has id ${s.id} there but ${tok.specialId(s.token)} in ${vocabName}; regenerate the tokenizer`);
      }
    }
    return tok;
  }

  /** Plain-data tables for building the same encoder in a worker thread. */
  encoderSpec(): EncoderSpec {
    return this.spec;
  }

  /** Id of a special token, or undefined. */
  specialId(text: string): number | undefined {
    return this.specialTokens.find((s) => s.text === text)?.id;
  }

  /** Encodes text to ids. */
  encode(text: string): number[] {
    return Array.from(this.encodeToIds(text));
  }

  /**
   * Encodes text or UTF-8 bytes to a Uint32Array of ids. Bytes are taken as
   * they are: an invalid UTF-8 sequence is pretokenized like U+FFFD but
   * keeps its own bytes, so decoding the ids gives back the input bytes.
   */
  encodeToIds(input: string | Uint8Array): Uint32Array {
    const bytes = typeof input === 'string' ? utf8.encode(input) : input;
    return this.encoder.encodeBytes(bytes);
  }

  /**
   * Lazily encodes a stream of text pieces (strings or UTF-8 bytes: lines of
   * a file, chunks of a Readable): ids come out while the input is still
   * being read, and only the unfinished tail of the input is held. The ids
   * equal `encode` of the concatenated input. A sync iterable gives a sync
   * generator; an async iterable (or Readable) an async one.
   */
  encodeIterable(source: Iterable<string | Uint8Array>, minBatchBytes?: number): Generator<number, void, undefined>;
  encodeIterable(source: AsyncIterable<string | Uint8Array> | Readable, minBatchBytes?: number): AsyncGenerator<number, void, undefined>;
  encodeIterable(
    source: Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array> | Readable,
    minBatchBytes?: number,
  ): Generator<number, void, undefined> | AsyncGenerator<number, void, undefined> {
    if (Symbol.asyncIterator in source) {
      const batches = this.encodeIterableBatches(source as AsyncIterable<string | Uint8Array>, minBatchBytes);
      return (async function* () {
        for await (const ids of batches) yield* ids;
      })();
    }
    const batches = this.encodeIterableBatchesSync(source as Iterable<string | Uint8Array>, minBatchBytes);
    return (function* () {
      for (const ids of batches) yield* ids;
    })();
  }

  /** Like `encodeIterable`, but yields ids in batches (much faster than one id at a time). */
  async *encodeIterableBatches(
    source: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
    minBatchBytes?: number,
  ): AsyncGenerator<Uint32Array, void, undefined> {
    const stream = new StreamEncoder(this.encoder, minBatchBytes, undefined, this.unitEncoder);
    for await (const piece of source) {
      const ids = stream.push(piece);
      if (ids && ids.length > 0) yield ids;
    }
    const rest = stream.finish();
    if (rest.length > 0) yield rest;
  }

  /**
   * A streaming encoder for callers that feed bytes from their own loop:
   * `push` pieces, get the ids that became final, `finish` for the rest.
   * It holds only the tail after the last safe cut, at most
   * `maxPendingBytes` (a longer stretch is a UserError).
   */
  streamEncoder(minBatchBytes?: number, maxPendingBytes?: number): StreamEncoder {
    return new StreamEncoder(this.encoder, minBatchBytes, maxPendingBytes, this.unitEncoder);
  }

  /** Synchronous form of `encodeIterableBatches`. */
  *encodeIterableBatchesSync(source: Iterable<string | Uint8Array>, minBatchBytes?: number): Generator<Uint32Array, void, undefined> {
    const stream = new StreamEncoder(this.encoder, minBatchBytes, undefined, this.unitEncoder);
    for (const piece of source) {
      const ids = stream.push(piece);
      if (ids && ids.length > 0) yield ids;
    }
    const rest = stream.finish();
    if (rest.length > 0) yield rest;
  }

  /** The bytes of one token (a view into the tokenizer's storage: do not modify). */
  tokenBytes(id: number): Uint8Array {
    this.checkId(id);
    return this.pool.subarray(this.offsets[id], this.offsets[id + 1]);
  }

  /** Concatenated bytes of the ids. Throws a clear error on an id outside the vocabulary. */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    let total = 0;
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k];
      this.checkId(id, k);
      total += this.offsets[id + 1] - this.offsets[id];
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (let k = 0; k < ids.length; k++) {
      const s = this.offsets[ids[k]];
      const e = this.offsets[ids[k] + 1];
      out.set(this.pool.subarray(s, e), at);
      at += e - s;
    }
    return out;
  }

  /**
   * Decodes ids to text. Bytes that are not valid UTF-8 (e.g. half of a
   * multi-byte character) become U+FFFD, exactly like Python's
   * `bytes.decode('utf-8', errors='replace')`.
   */
  decode(ids: ArrayLike<number>): string {
    return utf8Decoder.decode(this.decodeBytes(ids));
  }

  /**
   * The tokenizer identity (`sha256:` + hex, see tokenizer-identity.ts): the
   * vocabulary bytes, the merges and the special tokens, the same however
   * the tokenizer was built or loaded. It is what lmpipe.json and token-file
   * sidecars record, so that ids are never read with a different tokenizer.
   */
  hash(): string {
    this.hashHex ??= tokenizerIdentity(this.baseTables, this.specialTokens.map((s) => s.text));
    return this.hashHex;
  }

  /**
   * Whether a recorded tokenizer hash (a token file's sidecar) names this
   * tokenizer: its identity, or the hash sidecars written before the
   * identity carried (64 hex digits, no prefix).
   */
  matchesHash(recorded: string): boolean {
    if (recorded === this.hash()) return true;
    return isLegacyTokenizerHash(recorded) && recorded === legacyTokenizerHash(this.pool, this.offsets, this.spec.merges, this.specialTokens);
  }

  private checkId(id: number, position?: number): void {
    if (!(Number.isInteger(id) && id >= 0 && id < this.vocabSize)) {
      const where = position === undefined ? '' : ` at position ${position}`;
      throw new UserError(`token id ${id}${where} is out of range: the vocabulary has ${this.vocabSize} ids (0..${this.vocabSize - 1}); were these ids made with another tokenizer?`);
    }
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Id of the token with exactly these bytes, or -1. */
function findToken(pool: Uint8Array, offsets: Uint32Array, bytes: Uint8Array): number {
  for (let id = 0; id + 1 < offsets.length; id++) {
    const s = offsets[id];
    if (offsets[id + 1] - s !== bytes.length) continue;
    let k = 0;
    while (k < bytes.length && pool[s + k] === bytes[k]) k++;
    if (k === bytes.length) return id;
  }
  return -1;
}
