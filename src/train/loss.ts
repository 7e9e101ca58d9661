/**
 * Training loss: mean next-token cross-entropy from logits (the model's
 * log-sum-exp implementation in `src/model/ops.ts`, so a backend's fused
 * kernel is used when one is registered) and perplexity.
 */
import type { Tensor } from '@tensorflow/tfjs';
import { ops } from '../model/ops.ts';

/** Mean cross-entropy of `logits` (..., V) against integer `targets` (...), a scalar tensor. */
export function crossEntropy(logits: Tensor, targets: Tensor): Tensor {
  return ops.crossEntropy(logits, targets);
}

/** Perplexity = exp(mean cross-entropy in nats). */
export function perplexity(meanLoss: number): number {
  return Math.exp(meanLoss);
}
