import Type, { type Static, type TObject, type TSchema } from 'typebox';
import Value from 'typebox/value';
import { Compile } from 'typebox/compile';
import { boolVar, durationVar, intVar, type Env } from './env.js';

/**
 * One variable of the environment that seeds part of a settings area. `read` runs only when the
 * variable is set and not empty (otherwise the schema's default stays); it returns the fields it sets
 * and adds a problem, naming the variable, for a value it refuses.
 */
export interface EnvVar<T> {
  readonly name: string;
  /** The field this variable seeds when it is a duration in seconds (900, 15m, 8h, 7d): the admin UI shows the unit. */
  readonly seconds?: keyof T & string;
  read(env: Env, schema: TObject, problems: string[]): Partial<T>;
}

/**
 * One area of runtime settings (token policy, lockout, rate limits...), declared once by its feature:
 * the TypeBox schema holds every field's bounds and built-in default; `env` names the variables that
 * seed it at boot; `rules` are the checks across fields a schema cannot say. Config loading, the
 * settings store and the admin GET/PATCH routes all work from this one definition.
 */
export interface SettingsArea<S extends TObject = TObject, K extends string = string> {
  /** Storage key, the Config field of the env-seeded value, and `area` in `settings.changed`. */
  readonly key: K;
  /** Prefix of config problems: "lockout: ...". */
  readonly label: string;
  readonly schema: S;
  /** The schema's defaults: the value when no env variable and no stored override says otherwise. */
  readonly defaults: Readonly<Static<S>>;
  readonly env: readonly EnvVar<Static<S>>[];
  /** Problems with a complete value: the schema's bounds, then the rules; empty when consistent. */
  check(value: Static<S>): string[];
  /** Boot warnings about an env-seeded value (a protection switched off). */
  warnings(value: Static<S>): string[];
  /** Text fields that are written but never read back (secrets): encrypted at rest, masked in every answer and event. */
  readonly writeOnly: readonly string[];
  /**
   * For a write-only field, the fields that say where it is sent (a verify URL, a server address): a change
   * to one of them must write the secret again in the same change, or the secret would follow the new
   * destination unseen by whoever moved it.
   */
  readonly sentWith: Readonly<Record<string, readonly string[]>>;
  /** What GET answers: the schema without the write-only fields, each replaced by `<field>Set`, a boolean. */
  readonly viewSchema: TObject;
  /** The value as GET answers it and as `settings.changed` records it: write-only fields only as `<field>Set`. */
  view(value: Static<S>): Record<string, unknown>;
}

export interface AreaSpec<S extends TObject, K extends string> {
  key: K;
  label: string;
  schema: S;
  env?: readonly EnvVar<Static<S>>[];
  rules?: (value: Static<S>) => string[];
  warnings?: (value: Static<S>) => string[];
  /** Text fields never returned (see SettingsArea.writeOnly). */
  writeOnly?: readonly (keyof Static<S> & string)[];
  /** See SettingsArea.sentWith. */
  sentWith?: Partial<Record<keyof Static<S> & string, readonly (keyof Static<S> & string)[]>>;
}

export function defineSettingsArea<S extends TObject, K extends string>(spec: AreaSpec<S, K>): SettingsArea<S, K> {
  const defaults = deepFreeze(Value.Default(spec.schema, {}) as Static<S>);
  const missing = Object.keys(spec.schema.properties).filter((k) => !(k in (defaults as object)));
  if (missing.length > 0) throw new TypeError(`settings area ${spec.key}: no default for ${missing.join(', ')}`);
  const writeOnly = [...(spec.writeOnly ?? [])];
  for (const f of writeOnly) {
    if ((spec.schema.properties[f] as { type?: string } | undefined)?.type !== 'string')
      throw new TypeError(`settings area ${spec.key}: write-only ${f} is no text field`);
  }
  // The store checks the area on every read (rate limits: every request), so the schema is compiled once.
  const valid = Compile(spec.schema);
  const area: SettingsArea<S, K> = {
    key: spec.key,
    label: spec.label,
    schema: spec.schema,
    defaults,
    env: spec.env ?? [],
    check: (value) => {
      if (!valid.Check(value)) {
        const out = schemaProblems(spec.schema, value);
        return out.length > 0 ? out : ['the value does not match the schema'];
      }
      return spec.rules ? spec.rules(value) : [];
    },
    warnings: (value) => spec.warnings?.(value) ?? [],
    writeOnly,
    sentWith: (spec.sentWith ?? {}) as Record<string, readonly string[]>,
    viewSchema: viewSchemaOf(spec.schema, writeOnly),
    view: (value) => {
      const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
      for (const f of writeOnly) {
        out[`${f}Set`] = typeof out[f] === 'string' && out[f] !== '';
        delete out[f];
      }
      return out;
    },
  };
  const bad = area.check(defaults);
  if (bad.length > 0) throw new TypeError(`settings area ${spec.key}: the defaults are not valid: ${bad.join('; ')}`);
  return area;
}

function viewSchemaOf(schema: TObject, writeOnly: readonly string[]): TObject {
  if (writeOnly.length === 0) return schema;
  const props: Record<string, TSchema> = {};
  for (const [k, s] of Object.entries(schema.properties) as [string, TSchema][]) {
    if (writeOnly.includes(k)) props[`${k}Set`] = Type.Boolean({ description: `Whether ${k} is set; the value itself is never returned.` });
    else props[k] = s;
  }
  return Type.Object(props);
}

/**
 * The unit of a field as the admin UI shows it: the schema's own `unit` annotation, else seconds for a
 * field an env variable reads as a duration, else none.
 */
export function unitOf(area: SettingsArea, field: string): string | undefined {
  const own = (area.schema.properties[field] as { unit?: unknown } | undefined)?.unit;
  if (typeof own === 'string') return own;
  return area.env.some((v) => v.seconds === field) ? 'seconds' : undefined;
}

/** One readable problem per field that breaks the schema. */
function schemaProblems(schema: TObject, value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return ['must be an object'];
  const out: string[] = [];
  for (const [k, s] of Object.entries(schema.properties) as [string, TSchema & Record<string, unknown>][]) {
    const v = (value as Record<string, unknown>)[k];
    if (Value.Check(s, v)) continue;
    if (s.type === 'integer' && typeof s.minimum === 'number' && typeof s.maximum === 'number')
      out.push(`${k} must be an integer from ${s.minimum} to ${s.maximum}`);
    else if (s.type === 'boolean') out.push(`${k} must be true or false`);
    else if (Array.isArray(s.anyOf)) out.push(`${k} must be one of ${(s.anyOf as { const?: unknown }[]).map((x) => String(x.const)).join(', ')}`);
    else {
      const e = Value.Errors(s, v)[0];
      out.push(`${k}${e?.instancePath ?? ''} ${e?.message ?? 'is not valid'}`);
    }
  }
  return out;
}

/** The admin PATCH body of an area: any non-empty subset of its fields, same bounds, no defaults filled in. */
export function patchSchema(schema: TObject): TObject {
  const props = Object.fromEntries(Object.entries(schema.properties).map(([k, s]) => [k, Type.Optional(withoutDefault(s))]));
  return Type.Object(props, { additionalProperties: false, minProperties: 1 });
}

function withoutDefault(s: TSchema): TSchema {
  const copy = Type.Unsafe({ ...s }) as TSchema & { default?: unknown };
  delete copy.default;
  return copy;
}

/** Seeds an area from the environment: the schema's defaults, then each variable that is set. */
export function seedArea<S extends TObject>(area: SettingsArea<S>, env: Env, problems: string[], warnings: string[]): Static<S> {
  let value = structuredClone(area.defaults) as Static<S>;
  for (const v of area.env) {
    const raw = env[v.name];
    if (raw === undefined || raw === '') continue;
    value = { ...value, ...v.read(env, area.schema, problems) };
  }
  problems.push(...area.check(value).map((p) => `${area.label}: ${p}`));
  warnings.push(...area.warnings(value));
  return value;
}

const bounds = (schema: TObject, field: string): { min: number; max: number | undefined } => {
  const s = schema.properties[field] as { minimum?: number; maximum?: number } | undefined;
  if (!s) throw new TypeError(`no field ${field} in the area schema`);
  return { min: s.minimum ?? 0, max: s.maximum };
};

/** An integer field; the range is the schema's. */
export const intEnv = <T>(name: string, field: keyof T & string): EnvVar<T> => ({
  name,
  read(env, schema, problems) {
    const { min, max } = bounds(schema, field);
    const def = Number.NaN;
    const v = intVar(env, name, def, min, max ?? Number.MAX_SAFE_INTEGER, problems);
    return Number.isNaN(v) ? {} : ({ [field]: v } as Partial<T>);
  },
});

/** A duration field in seconds (900, 15m, 8h, 7d); the range is the schema's. */
export const durationEnv = <T>(name: string, field: keyof T & string): EnvVar<T> => ({
  name,
  seconds: field,
  read(env, schema, problems) {
    const { min, max } = bounds(schema, field);
    const v = durationVar(env, name, Number.NaN, min, problems, max);
    return Number.isNaN(v) ? {} : ({ [field]: v } as Partial<T>);
  },
});

/** A true/false field. */
export const boolEnv = <T>(name: string, field: keyof T & string): EnvVar<T> => ({
  name,
  read(env, _schema, problems) {
    const before = problems.length;
    const v = boolVar(env, name, problems);
    return problems.length > before ? {} : ({ [field]: v } as Partial<T>);
  },
});

/** A text field taken as it is. */
export const textEnv = <T>(name: string, field: keyof T & string): EnvVar<T> => ({
  name,
  read: (env) => ({ [field]: env[name] }) as Partial<T>,
});

/** A comma-separated list field; blanks are dropped. */
export const listEnv = <T>(name: string, field: keyof T & string): EnvVar<T> => ({
  name,
  read: (env) =>
    ({
      [field]: (env[name] ?? '')
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    }) as Partial<T>,
});

/** A variable with its own syntax, possibly setting several fields. */
export const customEnv = <T>(name: string, read: (raw: string, problems: string[]) => Partial<T>): EnvVar<T> => ({
  name,
  read: (env, _schema, problems) => read(env[name] ?? '', problems),
});

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
