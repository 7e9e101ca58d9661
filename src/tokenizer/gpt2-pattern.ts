/**
 * The GPT-2 pretokenizer pattern, as CS336 and tiktoken use it. This regex is
 * the specification; faster scanners elsewhere must be proven equal to it.
 */
export const GPT2_PATTERN_SOURCE =
  String.raw`'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;

/** A fresh global, unicode-aware RegExp for the GPT-2 pattern. */
export function gpt2Regex(): RegExp {
  return new RegExp(GPT2_PATTERN_SOURCE, 'gu');
}

/** Reference pretokenization by the regex (slow path, used as the oracle). */
export function pretokenizeRegex(text: string): string[] {
  return text.match(gpt2Regex()) ?? [];
}
