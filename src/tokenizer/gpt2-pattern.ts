/**
 * The GPT-2 pretokenizer pattern, as CS336 and tiktoken use it. This regex is
 * the specification; faster scanners elsewhere must be proven equal to it.
 *
 * The original reads `'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
 * Its `\s` is written `\p{White_Space}` here: that is what `\s` means in
 * Python's `regex` (the CS336 reference) and in Rust (tiktoken), while a
 * JavaScript `\s` also matches U+FEFF and misses U+0085.
 */
export const GPT2_PATTERN_SOURCE = String.raw`'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+`
  + String.raw`|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+`;

/** A fresh global, unicode-aware RegExp for the GPT-2 pattern. */
export function gpt2Regex(): RegExp {
  return new RegExp(GPT2_PATTERN_SOURCE, 'gu');
}

/** Reference pretokenization by the regex (slow path, used as the oracle). */
export function pretokenizeRegex(text: string): string[] {
  return text.match(gpt2Regex()) ?? [];
}
