/** Device bundle: bench/webgpu-train-step.ts. */
import './provide-modules.ts';
import '../../bench/webgpu-train-step.ts';
