/** Levenshtein edit distance (small strings: option names, config keys). */
export function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/**
 * The candidate at the smallest edit distance from `word` (ignoring case; the
 * first of equals), however far it is; undefined when there are none. For
 * "did you mean" hints over a short fixed list, where any guess helps.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  return closestWithDistance(word, candidates).best;
}

/** The candidate closest to `word`, if it is close enough to be a plausible typo. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const { best, distance } = closestWithDistance(word, candidates);
  return best !== undefined && distance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function closestWithDistance(word: string, candidates: readonly string[]): { best: string | undefined; distance: number } {
  let best: string | undefined;
  let distance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < distance) { distance = d; best = c; }
  }
  return { best, distance };
}
