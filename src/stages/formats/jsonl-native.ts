/**
 * The native JSON Lines extraction core (`jsonlExtract`,
 * native/src/formats/jsonl.cc) as the JSON Lines reader (jsonl.ts) uses it:
 * whether it is there, and the status codes it returns. The reader's
 * TypeScript line handler stays the reference: the core handles the lines
 * it is sure of and defers every other one to it.
 */
import { tryLoadNative, type NativeFormatsAddon } from '../../backends/native/addon.ts';

/** Every line of the range was handled. */
export const JSONL_DONE = 0;
/** The line at result[0] (ending at result[1]) is left to the TypeScript handler. */
export const JSONL_DEFER = 1;
/** The document of the line at result[0] (ending at result[1]) does not fit in the output buffer. */
export const JSONL_FULL = 2;

export type JsonlExtract = NativeFormatsAddon['jsonlExtract'];

/** Which JSON Lines engine a reader uses: the native core where it loads (`auto`), or TypeScript only. */
export type JsonlEngine = 'auto' | 'ts';

let cached: JsonlExtract | null | undefined;

/**
 * The native extraction function, or null when the addon is not built, does
 * not load, or predates it (then the TypeScript path reads JSON Lines alone).
 */
export function nativeJsonlExtract(): JsonlExtract | null {
  if (cached === undefined) {
    const addon = tryLoadNative();
    cached = addon !== null && typeof addon.jsonlExtract === 'function' ? addon.jsonlExtract.bind(addon) : null;
  }
  return cached;
}
