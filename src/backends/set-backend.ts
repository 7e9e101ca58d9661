/**
 * Makes a registered tfjs backend the active one, or fails with a UserError
 * naming the way out; shared by the backends whose activation is exactly that.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../pipeline/errors.ts';

/** Activates tfjs's backend `tfName` for lmpipe's backend `label` and waits until it is ready. */
export async function setTfBackend(tfName: string, label: string): Promise<void> {
  const ok = await tf.setBackend(tfName);
  if (!ok) throw new UserError(`backend "${label}" did not initialize; use --backend cpu`);
  await tf.ready();
}
