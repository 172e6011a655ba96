import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import fastJsonStringify from 'fast-json-stringify';

/**
 * The validators and serializers of the route schemas, compiled once per process and shared by every app built in it
 * (D294). Compiling them is most of the cost of building an app (about a second for all routes); the routes and their
 * schemas are fixed at build time, so the cache holds one entry per distinct schema and part and never grows with use.
 * A compiled validator or serializer depends only on its schema and the compiler's options, both fixed here.
 */

/** Body validation is strict: no coercion, no defaults smuggled, unknown keys refused by the schemas. */
const common = { allErrors: false, removeAdditional: false as const, useDefaults: true, strict: false };
const body = new Ajv({ ...common, coerceTypes: false });
/** Query strings, parameters and headers arrive as text: their numbers and booleans are coerced. */
const text = new Ajv({ ...common, coerceTypes: true });
addFormats.default(body);
addFormats.default(text);

const validators = new Map<string, ValidateFunction>();
const serializers = new Map<string, (doc: unknown) => string>();

export function compileValidator({ schema, httpPart }: { schema: object; httpPart?: string }): ValidateFunction {
  const key = `${httpPart === 'body' ? 'body' : 'text'}\0${JSON.stringify(schema)}`;
  let v = validators.get(key);
  if (!v) {
    v = (httpPart === 'body' ? body : text).compile(schema);
    validators.set(key, v);
  }
  return v;
}

/** Fastify's own serializer compiler (fast-json-stringify with no shared schemas: the app adds none), cached. */
export function compileSerializer({ schema }: { schema: object }): (doc: unknown) => string {
  const key = JSON.stringify(schema);
  let s = serializers.get(key);
  if (!s) {
    s = fastJsonStringify(schema as never) as (doc: unknown) => string;
    serializers.set(key, s);
  }
  return s;
}
