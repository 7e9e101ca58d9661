/**
 * train's command line, derived from the config schemas rather than
 * written out: one flag per training-config key (`batch_size` →
 * `--batch-size`, TRAIN_CONFIG_SCHEMA) and one per model key
 * (`--d-model 128 --num-layers 2`, nanoGPT style, MODEL_CONFIG_SCHEMA),
 * each typed, ranged and described by its schema, with the schema's
 * default in --help. The flags layer over the other sources as
 * stored config (--resume) < --config file < flags, the per-key model
 * flags over `--model`'s keys.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MODEL_CONFIG_KEYS, MODEL_CONFIG_SCHEMA } from '../model/config.ts';
import { configFromFlags, flagsFromSchema } from '../pipeline/config-flags.ts';
import type { ConfigKeySpec, ConfigSchema, FlagDecoration, SchemaFlags } from '../pipeline/config-flags.ts';
import type { OptionSpecs } from '../pipeline/define.ts';
import { UserError } from '../pipeline/errors.ts';
import { TRAIN_CONFIG_FILE, TRAIN_CONFIG_SCHEMA, TRAIN_MODEL_DEFAULT_TEXT, mergeRaw, readTrainConfigFile } from './train-config.ts';
import type { RawTrainConfig } from './train-config.ts';

/** The model keys as train's flags see them: with a training config's defaults. */
const MODEL_FLAG_SCHEMA: ConfigSchema = Object.fromEntries(MODEL_CONFIG_KEYS.map((k): [string, ConfigKeySpec] => {
  const spec: ConfigKeySpec = MODEL_CONFIG_SCHEMA[k];
  return [k, { ...spec, default: undefined, defaultText: TRAIN_MODEL_DEFAULT_TEXT[k] }];
}));

/** train's config flags, by option key (`batchSize`, `dModel`, ...). */
export type TrainConfigFlags = SchemaFlags<typeof TRAIN_CONFIG_SCHEMA> & SchemaFlags<typeof MODEL_CONFIG_SCHEMA>;

/**
 * The flags of every training-config key, the model keys right after
 * `--model`. `shared` lends a key the short letter and choices of a shared
 * spec (src/pipeline/common-options.ts: `-o` for out, the backend names).
 */
export function trainConfigFlags(shared: Readonly<Record<string, FlagDecoration>> = {}): TrainConfigFlags {
  const train: OptionSpecs = flagsFromSchema(TRAIN_CONFIG_SCHEMA, shared);
  const model: OptionSpecs = flagsFromSchema(MODEL_FLAG_SCHEMA);
  const out: OptionSpecs = {};
  for (const [k, spec] of Object.entries(train)) {
    out[k] = spec;
    if (k !== 'model') continue;
    for (const [mk, mspec] of Object.entries(model)) {
      if (mk in train) throw new Error(`model key flag --${mk} collides with a training-config flag`);
      out[mk] = mspec;
    }
  }
  return out as TrainConfigFlags;
}

/** `--model` as inline JSON, or a JSON file of model keys (a config.json). */
function parseModelFlag(s: string): unknown {
  let text = s;
  if (!s.trim().startsWith('{')) {
    try {
      text = readFileSync(s, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EISDIR') throw new UserError(`--model ${s} is a directory; give inline JSON or a config.json file (e.g. ${join(s, 'config.json')})`);
      throw new UserError(`cannot read --model ${s}: ${code ?? (e as Error).message} (give inline JSON or a config.json path)`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UserError(`--model: invalid JSON (${(e as Error).message.split('\n')[0]})`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Parsed values of train's options, by option key (`batchSize`, `dModel`, `config`, ...). */
export type TrainFlagValues = Readonly<Record<string, unknown>>;

/** The keys the given flags set (nothing for a flag not given): per-key model flags merged over --model. */
export function rawConfigFromFlags(values: TrainFlagValues): RawTrainConfig {
  const raw: RawTrainConfig = configFromFlags(TRAIN_CONFIG_SCHEMA, values);
  if (typeof raw.model === 'string') raw.model = parseModelFlag(raw.model);
  const perKey = configFromFlags(MODEL_FLAG_SCHEMA, values);
  if (Object.keys(perKey).length > 0) {
    // A --model that is not an object is left for resolveTrainConfig to refuse.
    if (raw.model === undefined) raw.model = perKey;
    else if (isObject(raw.model)) raw.model = { ...raw.model, ...perKey };
  }
  return raw;
}

/** The raw training config of one invocation, and where it came from (for messages). */
export interface LayeredTrainConfig {
  raw: RawTrainConfig;
  source: string;
}

/**
 * Layers the sources of one invocation: the stored config of `--resume`
 * (its run length dropped when a new one is given), then the `--config`
 * file, then the flags.
 */
export function layeredTrainConfig(values: TrainFlagValues): LayeredTrainConfig {
  const configPath = typeof values.config === 'string' ? values.config : undefined;
  const resume = typeof values.resume === 'string' ? values.resume : undefined;
  const fileRaw: RawTrainConfig = configPath ? readTrainConfigFile(configPath) : {};
  const flagRaw = rawConfigFromFlags(values);
  if (resume === undefined) return { raw: mergeRaw(fileRaw, flagRaw), source: configPath ?? 'command line' };
  if (flagRaw.out !== undefined && flagRaw.out !== resume) throw new UserError(`--out ${String(flagRaw.out)} differs from --resume ${resume}: a resumed run stays in its directory`);
  const stored = readTrainConfigFile(join(resume, TRAIN_CONFIG_FILE));
  // A new run length replaces the stored one, whichever way it is given.
  const lengthGiven = [fileRaw, flagRaw].some((r) => r.max_steps !== undefined || r.max_tokens !== undefined);
  if (lengthGiven) { delete stored.max_steps; delete stored.max_tokens; }
  return { raw: mergeRaw(stored, fileRaw, flagRaw, { out: resume }), source: `${join(resume, TRAIN_CONFIG_FILE)} + overrides` };
}
