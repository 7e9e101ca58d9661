/**
 * Device bundles only: hands the WebGPU packages to the setup code as
 * literal imports, so esbuild bundles tfjs's WebGPU backend (one copy of
 * tfjs-core) and leaves `webgpu` (dawn.node) to be loaded from the pack's
 * node_modules. Imported first by every entry-*.ts.
 */
import { provideWebGPUModules } from '../../src/backends/webgpu/setup.ts';

provideWebGPUModules({
  webgpu: () => import('webgpu'),
  backend: () => import('@tensorflow/tfjs-backend-webgpu'),
});
