/** Device bundle: bench/webgpu-ops.ts. */
import './provide-modules.ts';
import '../../bench/webgpu-ops.ts';
