/**
 * Named model shapes for accounting: the four GPT-2 sizes (in the CS336
 * architecture, as the 2025 handout's `transformer_accounting` problem does)
 * and the handout's TinyStories model.
 */
import { UserError } from '../pipeline/errors.ts';
import { CS336_TINYSTORIES_CONFIG } from '../model/config.ts';
import { closest } from '../util/nearest.ts';
import type { ModelConfigInput } from '../model/config.ts';

/**
 * GPT-2 shape: vocab 50,257, context 1,024, d_ff = 4·d_model (the handout's
 * GPT-2 XL: d_ff 6,400). Everything else is the CS336 default architecture
 * (RoPE, SwiGLU with three matrices, pre-norm RMSNorm, untied LM head).
 */
function gpt2(numLayers: number, dModel: number, numHeads: number): ModelConfigInput {
  return { vocab_size: 50257, context_length: 1024, num_layers: numLayers, d_model: dModel, num_heads: numHeads, d_ff: 4 * dModel };
}

/** Preset name → raw model config (resolved with `resolveModelConfig`). */
export const MODEL_PRESETS: Readonly<Record<string, ModelConfigInput>> = Object.freeze({
  'gpt2-small': gpt2(12, 768, 12),
  'gpt2-medium': gpt2(24, 1024, 16),
  'gpt2-large': gpt2(36, 1280, 20),
  'gpt2-xl': gpt2(48, 1600, 25),
  'cs336-tinystories': { ...CS336_TINYSTORIES_CONFIG },
});

export const PRESET_NAMES: readonly string[] = Object.keys(MODEL_PRESETS);

/** The raw config of a preset; a one-line UserError naming the nearest preset otherwise. */
export function presetConfig(name: string): ModelConfigInput {
  const preset = Object.hasOwn(MODEL_PRESETS, name) ? MODEL_PRESETS[name] : undefined;
  if (!preset) {
    throw new UserError(`unknown model preset '${name}' (did you mean '${closest(name, PRESET_NAMES)}'?); presets: ${PRESET_NAMES.join(', ')}, or pass --config FILE`);
  }
  return { ...preset };
}
