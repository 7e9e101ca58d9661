/**
 * Flags derived from a config schema. A JSON config (train's, the model's)
 * declares each snake_case key once, with its type, range, default and a
 * one-line description; from that come its validation and one
 * `--kebab-case` flag per key, whose --help shows the schema's default.
 * The flags carry no parser default: an unset flag means "not given", so
 * flags override the layers beneath them (a config file, a stored config)
 * and the schema's default applies last. A flag checks its type and
 * minimum as it is parsed (a negative --lr is refused in flag terms); the
 * rest (maxima, cross-key rules) is the config validation's, which names
 * the key.
 */
import { UserError } from './errors.ts';
import { flagName } from './define.ts';
import type { BooleanOption, NumberOption, OptionSpec, OptionSpecs, StringOption } from './define.ts';

/** One key of a JSON config. */
export interface ConfigKeySpec {
  /**
   * int/number/string/boolean: a JSON value of that type; numbers: a list
   * of `count` numbers (a flag gives them comma-separated); object: a
   * nested config (its flag's string is parsed by the caller).
   */
  type: 'int' | 'number' | 'string' | 'boolean' | 'numbers' | 'object';
  /** One line for --help and error messages. */
  description: string;
  /** The value used when no layer gives one. */
  default?: number | string | boolean | readonly number[];
  /** The default in words, when it depends on other keys (e.g. "lr/10"). */
  defaultText?: string;
  min?: number;
  max?: number;
  /** Values must be greater than this (an exclusive minimum). */
  gt?: number;
  choices?: readonly string[];
  /** numbers: how many. */
  count?: number;
  /** Name of the value in --help (e.g. FILE). */
  placeholder?: string;
}

/** A config's keys, in --help order. */
export type ConfigSchema = Readonly<Record<string, ConfigKeySpec>>;

/** `d_model` → `dModel` at the type level. */
export type CamelCase<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<CamelCase<T>>}` : S;

/** The option spec type of a schema key's flag (none has a parser default, so each value may be undefined). */
type FlagOf<S extends ConfigKeySpec> = S['type'] extends 'boolean' ? BooleanOption & { negatable: true }
  : S['type'] extends 'int' | 'number' ? NumberOption
  : StringOption;

/** The flags of a schema, by option key. */
export type SchemaFlags<S extends ConfigSchema> = { [K in keyof S & string as CamelCase<K>]: FlagOf<S[K]> };

/** `d_model` → `dModel`: the option key whose flag is `--d-model`. */
export function optionKey(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** What --help shows as a key's default, or undefined when it has none. */
export function defaultText(spec: ConfigKeySpec): string | undefined {
  if (spec.defaultText !== undefined) return spec.defaultText;
  if (spec.default === undefined) return undefined;
  return Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default);
}

/**
 * What a generated flag takes from a shared spec (common-options.ts): its
 * short letter and choices. The schema keeps the placeholder, wording and
 * default.
 */
export interface FlagDecoration {
  short?: string;
  choices?: readonly string[];
}

/**
 * One flag per key of `schema` (keys: optionKey of each), typed, ranged and
 * described by the schema; `decorations` add a short letter, placeholder or
 * choices per key. Booleans are negatable (`--no-KEY`) so a flag can turn a
 * config's true off.
 */
export function flagsFromSchema<S extends ConfigSchema>(schema: S, decorations: Readonly<Record<string, FlagDecoration>> = {}): SchemaFlags<S> {
  const out: OptionSpecs = {};
  for (const [key, spec] of Object.entries(schema)) {
    const shown = defaultText(spec);
    const d = decorations[key] ?? {};
    const base = {
      description: spec.description,
      ...(shown !== undefined ? { helpDefault: shown } : {}),
      ...(d.short !== undefined ? { short: d.short } : {}),
    };
    const placeholder = spec.placeholder;
    let flag: OptionSpec;
    if (spec.type === 'boolean') {
      flag = { type: 'boolean', negatable: true, ...base } satisfies BooleanOption;
    } else if (spec.type === 'int' || spec.type === 'number') {
      flag = {
        type: spec.type, ...base,
        ...(placeholder !== undefined ? { placeholder } : {}),
        ...(spec.min !== undefined ? { min: spec.min } : {}),
      } satisfies NumberOption;
    } else {
      const choices = d.choices ?? spec.choices;
      flag = {
        type: 'string', ...base,
        ...(placeholder !== undefined ? { placeholder } : {}),
        ...(choices !== undefined ? { choices } : {}),
      } satisfies StringOption;
    }
    out[optionKey(key)] = flag;
  }
  return out as SchemaFlags<S>;
}

const COUNT_WORDS = ['zero', 'one', 'two', 'three', 'four'];

/**
 * The values of the flags of `schema` that were given, by snake_case key
 * (a key absent: its flag was not given). `numbers` flags are split at
 * commas; `object` flags are left as their string for the caller to parse.
 */
export function configFromFlags(schema: ConfigSchema, values: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    const v = values[optionKey(key)];
    if (v === undefined) continue;
    if (spec.type === 'numbers' && typeof v === 'string') {
      const parts = v.split(',').map((x) => (x.trim() === '' ? NaN : Number(x.trim())));
      const count = spec.count ?? parts.length;
      if (parts.length !== count || parts.some((x) => !Number.isFinite(x))) {
        const example = defaultText(spec);
        throw new UserError(`invalid value '${v}' for --${flagName(optionKey(key))}: expected ${COUNT_WORDS[count] ?? count} numbers${example ? `, e.g. ${example}` : ''}`);
      }
      out[key] = parts;
      continue;
    }
    out[key] = v;
  }
  return out;
}
