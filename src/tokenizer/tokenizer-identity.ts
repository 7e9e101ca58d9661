/**
 * The tokenizer identity: one hash per tokenizer, the same however it was
 * made or loaded (trained in memory, read from vocab.json + merges.txt
 * [+ lmpipe.json], or from a HuggingFace tokenizer.json). train-bpe,
 * encode and inspect-tokenizer print it as `tokenizer_hash`; lmpipe.json
 * and every token file's sidecar store it as `tokenizerHash`; train checks
 * its data and tokenizer against it.
 *
 * It is `sha256:` and the hex SHA-256 of, in order (every integer a
 * little-endian u32):
 *
 *   "lmpipe-tokenizer-v2\0"
 *   n, then offsets[0..n] and the concatenated bytes of the n regular tokens
 *     (ids 0..n-1, special tokens that training put in the vocabulary included)
 *   m, then the m merges in rank order as (left id, right id, merged id)
 *   s, then each special token as (UTF-8 length, UTF-8 bytes), in order,
 *     duplicates dropped
 *
 * So it covers the vocabulary bytes, the merges and the special tokens, and
 * nothing about how they were spelled in a file. Special tokens that are not
 * in the vocabulary get the ids after it, in order; that is why their order
 * counts. Extra special tokens (encode --special-token) make a different
 * tokenizer, hence a different identity.
 *
 * Before this identity, token-file sidecars carried `legacyTokenizerHash`
 * (64 hex digits, no prefix) and lmpipe.json a sha256 of its two files
 * (`contentHash`); both are still read (see `Tokenizer.matchesHash`,
 * readTokenizerDir).
 */
import { createHash, type Hash } from 'node:crypto';
import type { SpecialToken } from './special-matcher.ts';
import type { TokenizerTables } from './tokenizer-files.ts';

const PREFIX = 'sha256:';
const utf8 = new TextEncoder();

function u32(h: Hash, v: number): void {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  h.update(b);
}

/** The values of an integer array as little-endian u32 bytes, whatever the platform's byte order. */
function u32Array(values: Uint32Array | Int32Array): Uint8Array {
  const out = Buffer.alloc(4 * values.length);
  for (let i = 0; i < values.length; i++) out.writeUInt32LE(values[i] >>> 0, 4 * i);
  return out;
}

/**
 * The identity of the tokenizer made of `tables` (the regular vocabulary and
 * merges, before special tokens are appended) and `specialTokens` in order.
 */
export function tokenizerIdentity(tables: TokenizerTables, specialTokens: readonly string[]): string {
  const h = createHash('sha256');
  h.update('lmpipe-tokenizer-v2\0');
  const n = tables.offsets.length - 1;
  u32(h, n);
  h.update(u32Array(tables.offsets));
  h.update(tables.pool.subarray(0, tables.offsets[n]));
  u32(h, tables.merges.length / 3);
  h.update(u32Array(tables.merges));
  const specials = [...new Set(specialTokens)];
  u32(h, specials.length);
  for (const s of specials) {
    const b = utf8.encode(s);
    u32(h, b.length);
    h.update(b);
  }
  return `${PREFIX}${h.digest('hex')}`;
}

/** True for a hash in the pre-identity sidecar form (64 hex digits, no `sha256:`). */
export function isLegacyTokenizerHash(hash: string): boolean {
  return /^[0-9a-f]{64}$/.test(hash);
}

/**
 * The hash token-file sidecars carried before the identity (`Tokenizer.hash()`
 * then): over the final tables (special tokens appended) in the platform's
 * byte order and the special tokens with their ids as JSON. Kept only to
 * recognise old sidecars.
 */
export function legacyTokenizerHash(pool: Uint8Array, offsets: Uint32Array, merges: Int32Array, specialTokens: readonly SpecialToken[]): string {
  const h = createHash('sha256');
  h.update('lmpipe-bpe-v1\0');
  h.update(new Uint8Array(offsets.buffer, offsets.byteOffset, offsets.byteLength));
  h.update(pool);
  h.update(new Uint8Array(merges.buffer, merges.byteOffset, merges.byteLength));
  h.update(JSON.stringify(specialTokens.map((s) => ({ text: s.text, id: s.id }))));
  return h.digest('hex');
}
