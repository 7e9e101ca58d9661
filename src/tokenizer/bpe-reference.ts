/**
 * Byte-level BPE written to be read, not to be fast, in the spirit of
 * tiktoken's `_educational.py`: a naive trainer and a naive encoder over JS
 * strings and Maps, using the GPT-2 regex itself (`gpt2-pattern.ts`). Tests
 * use them as an oracle for the fast paths (`bpe-encode.ts`,
 * `pretoken-count.ts`, `bpe-learn-merges.ts` and the native core in
 * `native-tokenizer.ts`) on small inputs.
 *
 * Tokens are "byte strings": JS strings whose every char is one byte
 * (0..255), so `<` on them is Python's bytes order and they work as Map keys.
 */
import { pretokenizeRegex } from './gpt2-pattern.ts';

/** UTF-8 bytes of a string as a byte string. */
export function toByteString(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** Splits text on special tokens (leftmost, longest first): the plain pieces and the tokens, in order. */
export function splitSpecials(text: string, specials: readonly string[]): { text: string; special: boolean }[] {
  if (specials.length === 0) return [{ text, special: false }];
  const escaped = [...specials].sort((a, b) => b.length - a.length).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const parts = text.split(new RegExp(`(${escaped.join('|')})`, 'u'));
  // split with one capture group alternates: text, token, text, token, ...
  return parts.map((p, i) => ({ text: p, special: i % 2 === 1 })).filter((p) => p.special || p.text.length > 0);
}

/** Pretoken byte strings of a text, with their counts (what BPE training counts). */
export function referenceCounts(text: string, specials: readonly string[] = []): Map<string, number> {
  const counts = new Map<string, number>();
  for (const piece of splitSpecials(text, specials)) {
    if (piece.special) continue;
    for (const p of pretokenizeRegex(piece.text)) {
      const key = toByteString(p);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

/** A trained tokenizer: merges in order (as byte-string pairs) and the vocabulary (id -> byte string). */
export interface ReferenceBpe {
  merges: [string, string][];
  vocab: string[];
}

/**
 * Naive BPE training (CS336 semantics): vocabulary = special tokens, the 256
 * bytes, then one token per merge; each round recounts every adjacent pair
 * of every word, merges the most frequent one (ties: the lexicographically
 * greater pair of byte strings) everywhere, and repeats.
 */
export function referenceTrain(text: string, vocabSize: number, specials: readonly string[] = []): ReferenceBpe {
  const vocab: string[] = [...specials.map(toByteString)];
  for (let b = 0; b < 256; b++) vocab.push(String.fromCharCode(b));
  const words = [...referenceCounts(text, specials)].map(([w, count]) => ({ parts: [...w], count }));
  const merges: [string, string][] = [];
  while (vocab.length < vocabSize) {
    const pairs = new Map<string, { a: string; b: string; count: number }>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.parts.length; i++) {
        const key = `${w.parts[i]}\u0100${w.parts[i + 1]}`;
        const p = pairs.get(key) ?? { a: w.parts[i], b: w.parts[i + 1], count: 0 };
        p.count += w.count;
        pairs.set(key, p);
      }
    }
    let best: { a: string; b: string; count: number } | null = null;
    for (const p of pairs.values()) {
      if (!best || p.count > best.count || (p.count === best.count && (p.a > best.a || (p.a === best.a && p.b > best.b)))) best = p;
    }
    if (!best) break;
    const { a, b } = best;
    merges.push([a, b]);
    vocab.push(a + b);
    for (const w of words) {
      const out: string[] = [];
      for (let i = 0; i < w.parts.length; i++) {
        if (i + 1 < w.parts.length && w.parts[i] === a && w.parts[i + 1] === b) {
          out.push(a + b);
          i++;
        } else {
          out.push(w.parts[i]);
        }
      }
      w.parts = out;
    }
  }
  return { merges, vocab };
}

/** Rank of each merge pair, per merges list (built once). */
const rankMaps = new WeakMap<object, Map<string, number>>();

/**
 * Naive encoding: special tokens first, then each regex pretoken's bytes are
 * merged by repeatedly joining the adjacent pair with the lowest merge rank
 * (the leftmost on ties), and the parts are looked up in the vocabulary.
 * `vocab` maps byte strings to ids; `merges` are byte-string pairs in rank order.
 */
export function referenceEncode(
  text: string, vocab: ReadonlyMap<string, number>, merges: readonly (readonly [string, string])[], specials: readonly string[] = [],
): number[] {
  let rank = rankMaps.get(merges);
  if (!rank) {
    const m = new Map<string, number>();
    merges.forEach(([a, b], r) => { if (!m.has(`${a}\u0100${b}`)) m.set(`${a}\u0100${b}`, r); });
    rankMaps.set(merges, m);
    rank = m;
  }
  const idOf = (t: string): number => {
    const id = vocab.get(t);
    if (id === undefined) throw new Error(`no id for ${JSON.stringify(t)}`);
    return id;
  };
  const ids: number[] = [];
  for (const piece of splitSpecials(text, specials)) {
    if (piece.special) {
      ids.push(idOf(toByteString(piece.text)));
      continue;
    }
    for (const p of pretokenizeRegex(piece.text)) {
      const parts = [...toByteString(p)];
      for (;;) {
        let best = -1;
        let bestRank = Infinity;
        for (let i = 0; i + 1 < parts.length; i++) {
          const r = rank.get(`${parts[i]}\u0100${parts[i + 1]}`);
          if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
        }
        if (best < 0) break;
        parts.splice(best, 2, parts[best] + parts[best + 1]);
      }
      for (const t of parts) ids.push(idOf(t));
    }
  }
  return ids;
}
