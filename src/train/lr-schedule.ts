/**
 * The CS336 learning-rate schedule: linear warmup to `maxLr` over
 * `warmupIters`, cosine annealing down to `minLr` at `cosineCycleIters`,
 * then constant `minLr` (`get_lr_cosine_schedule` in the handout).
 */

/** Learning rate at iteration `it` (0-based). */
export function cosineLr(it: number, maxLr: number, minLr: number, warmupIters: number, cosineCycleIters: number): number {
  if (it < warmupIters) return (it / warmupIters) * maxLr;
  if (it <= cosineCycleIters) {
    // warmup == cycle leaves no annealing segment: the boundary itself is maxLr.
    if (cosineCycleIters === warmupIters) return maxLr;
    const progress = (it - warmupIters) / (cosineCycleIters - warmupIters);
    return minLr + 0.5 * (1 + Math.cos(progress * Math.PI)) * (maxLr - minLr);
  }
  return minLr;
}
