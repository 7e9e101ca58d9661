/**
 * Which tokenizer core runs (`--engine`): 'native' (the addon's C++ loops,
 * native-tokenizer.ts), 'ts' (the TypeScript reference), or 'auto': native
 * when the addon is built, else TypeScript with the reason. Both give the
 * same ids and counts; summaries say which ran.
 */
import { UserError } from '../pipeline/errors.ts';
import { nativeTokenizerAvailable, type TokenizerEngine } from './native-tokenizer.ts';

export type { TokenizerEngine };

/** The core `engine` resolves to here, and why 'auto' fell back to TypeScript. */
export function resolveEngine(engine: TokenizerEngine): { engine: 'native' | 'ts'; fallbackReason?: string } {
  if (engine === 'ts') return { engine: 'ts' };
  const a = nativeTokenizerAvailable();
  if (a.ok) return { engine: 'native' };
  if (engine === 'native') throw new UserError(`--engine native: the native tokenizer core is not available (${a.reason}); build it with npm run build:native, or use --engine auto`);
  return { engine: 'ts', fallbackReason: a.reason };
}
