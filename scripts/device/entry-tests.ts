/** Device bundle: the WebGPU op and training tests (run with `node --test`). */
import './provide-modules.ts';
import '../../test/webgpu-ops.test.ts';
import '../../test/webgpu-training.test.ts';
