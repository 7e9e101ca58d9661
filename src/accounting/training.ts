/**
 * Compute of one AdamW step and of a whole training run at a given hardware
 * peak and model-FLOPs utilization (MFU).
 */
import { backwardFlops } from './flops.ts';

/**
 * AdamW's elementwise update per parameter, counted as: m ← β1·m + (1−β1)·g
 * (3), v ← β2·v + (1−β2)·g² (4), θ ← θ − α_t·m/(√v + ε) (5), θ ← θ − αλ·θ (2).
 */
export const ADAMW_FLOPS_PER_PARAMETER = 14;

export interface StepFlops {
  batchSize: number;
  /** Forward matmul FLOPs for the whole batch. */
  forward: number;
  backward: number;
  /** forward + backward: the model FLOPs MFU is defined on. */
  model: number;
  /** The optimizer's elementwise update (not part of model FLOPs). */
  optimizer: number;
}

/** FLOPs of one AdamW step of `batchSize` sequences. */
export function stepFlops(forwardPerSequence: number, parameterCount: number, batchSize: number): StepFlops {
  const forward = forwardPerSequence * batchSize;
  const backward = backwardFlops(forward);
  return { batchSize, forward, backward, model: forward + backward, optimizer: ADAMW_FLOPS_PER_PARAMETER * parameterCount };
}

export interface TrainingTime {
  steps: number;
  /** Model FLOPs of the whole run. */
  totalFlops: number;
  peakTflops: number;
  mfu: number;
  /** Achieved FLOP/s: peak × MFU. */
  achievedFlopsPerSecond: number;
  seconds: number;
  days: number;
}

/** Wall time of `steps` steps when the hardware sustains `mfu` of its `peakTflops`. */
export function trainingTime(modelFlopsPerStep: number, steps: number, peakTflops: number, mfu: number): TrainingTime {
  const totalFlops = modelFlopsPerStep * steps;
  const achieved = peakTflops * 1e12 * mfu;
  const seconds = totalFlops / achieved;
  return { steps, totalFlops, peakTflops, mfu, achievedFlopsPerSecond: achieved, seconds, days: seconds / 86400 };
}
