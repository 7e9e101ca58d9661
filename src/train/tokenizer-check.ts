/**
 * train's check that its data and tokenizer belong together: the sidecars of
 * train_data and val_data and the tokenizer directory recorded for generate
 * must name one tokenizer identity (src/tokenizer/tokenizer-identity.ts).
 * Sidecars written before the identity (a bare 64-hex hash) are still
 * accepted: they are checked through the tokenizer when one is given.
 */
import { existsSync } from 'node:fs';
import { UserError } from '../pipeline/errors.ts';
import { isLegacyTokenizerHash } from '../tokenizer/tokenizer-identity.ts';
import { Tokenizer } from '../tokenizer/tokenizer.ts';
import { tokenFileMeta } from '../tokenizer/token-reader.ts';
import type { TrainConfig } from './train-config.ts';

/** A token file and the tokenizer its sidecar names. */
interface Encoded {
  what: string;
  path: string;
  hash: string;
  specials: string[];
}

/**
 * Throws a UserError when train_data, val_data and tokenizer name different
 * tokenizers; `warn` gets what cannot be checked. Returns the data's
 * tokenizer identity (null when no sidecar records one; a sidecar's
 * pre-identity hash only when no tokenizer was given to translate it).
 */
export function checkDataTokenizer(config: Pick<TrainConfig, 'train_data' | 'val_data' | 'tokenizer'>, warn: (message: string) => void): string | null {
  const encoded: Encoded[] = [];
  for (const [what, path] of [['train_data', config.train_data], ['val_data', config.val_data]] as const) {
    const meta = path && existsSync(path) ? tokenFileMeta(path) : null;
    if (meta && typeof meta.tokenizerHash === 'string') {
      encoded.push({ what, path: path as string, hash: meta.tokenizerHash, specials: Object.keys(meta.specialTokens ?? {}) });
    }
  }
  if (encoded.length === 0) return null;
  const [a, b] = encoded;
  const comparable = b !== undefined && isLegacyTokenizerHash(a.hash) === isLegacyTokenizerHash(b.hash);
  if (comparable && a.hash !== b.hash) {
    throw new UserError(`${a.what} ${a.path} and ${b.what} ${b.path} were encoded with different tokenizers (${a.hash} vs ${b.hash}); encode both with the same tokenizer and --special-token list`);
  }
  if (config.tokenizer && existsSync(config.tokenizer)) {
    let identity: string | null = null;
    for (const e of encoded) {
      const tok = Tokenizer.fromDir(config.tokenizer, e.specials);
      if (!tok.matchesHash(e.hash)) {
        throw new UserError(`${e.what} ${e.path} was encoded with tokenizer ${e.hash}, but --tokenizer ${config.tokenizer} is ${tok.hash()}; pass the tokenizer the data was encoded with, or re-encode the data with this one (pipelines/encode.ts)`);
      }
      identity ??= tok.hash();
    }
    // The current identity, even where an old sidecar recorded the hash from before it.
    return identity;
  } else if (config.tokenizer) {
    warn(`tokenizer ${config.tokenizer} not found: it is recorded for generate but not checked against the data`);
  } else if (b !== undefined && !comparable) {
    const old = isLegacyTokenizerHash(a.hash) ? a : b;
    warn(`${old.what} ${old.path} records a tokenizer hash from before lmpipe's tokenizer identity, so it cannot be compared with the other file's; pass --tokenizer to check both, or re-encode it`);
  }
  return encoded.find((e) => !isLegacyTokenizerHash(e.hash))?.hash ?? a.hash;
}
