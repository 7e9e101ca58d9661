/**
 * Loading an optional npm package that registers a tfjs backend when
 * imported (`@tensorflow/tfjs-node`, `-node-gpu`, `-backend-wasm`): a missing
 * package becomes a one-line reason naming the exact install command, at
 * the version of the installed tfjs.
 */
import * as tf from '@tensorflow/tfjs';

/** The npm command that installs an optional backend package (same version as tfjs). */
export function installHint(pkg: string): string {
  return `npm install ${pkg}@${tf.version.tfjs}`;
}

function isModuleNotFound(e: unknown, pkg: string): boolean {
  const err = e as NodeJS.ErrnoException;
  return (err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND') && String(err.message).includes(pkg);
}

/**
 * Imports `pkg` for lmpipe's backend `backend`. Returns null once it is
 * loaded, else why not: not installed (with the install command), or
 * installed but broken (e.g. missing CUDA libraries).
 */
export async function importOptional(backend: string, pkg: string): Promise<string | null> {
  try {
    await import(pkg);
    return null;
  } catch (e) {
    if (isModuleNotFound(e, pkg)) {
      return `backend "${backend}" needs the optional package ${pkg}, which is not installed; run \`${installHint(pkg)}\` or use --backend cpu`;
    }
    return `backend "${backend}": ${pkg} is installed but failed to load (${(e as Error).message.split('\n')[0]}); fix the installation or use --backend cpu`;
  }
}
