import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import fastJsonStringify from 'fast-json-stringify';

/**
 * The validators and serializers of the route schemas, compiled when a route first needs them and then shared by
 * every app built in the process (D294). Compiling all of them was most of the cost of building an app (about a
 * second); a process that serves a few routes now compiles only those. The routes and their schemas are fixed at build
 * time, so the cache holds one entry per distinct schema and part and never grows with traffic. A compiled validator
 * or serializer depends only on its schema and the compiler's options, both fixed here.
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

type Validate = ((data: unknown, ctx?: object) => boolean) & { errors?: ValidateFunction['errors']; schemaEnv?: unknown };

export function compileValidator({ schema, httpPart }: { schema: object; httpPart?: string }): Validate {
  const key = `${httpPart === 'body' ? 'body' : 'text'}\0${JSON.stringify(schema)}`;
  let compiled = validators.get(key);
  const validate: Validate = (data, ctx) => {
    if (!compiled) {
      compiled = (httpPart === 'body' ? body : text).compile(schema);
      validators.set(key, compiled);
    }
    const ok = compiled(data, ctx as never) as boolean;
    validate.errors = compiled.errors;
    return ok;
  };
  // Fastify hands Ajv's validators the request as the parent of the value (so that a coerced root value is written
  // back) when the function has `schemaEnv`, which every Ajv validator has: the lazy one says so from the start.
  validate.schemaEnv = true;
  return validate;
}

/** An object schema that says nothing of its keys or values: any key, any value (`Type.Record(Type.String(), Type.Unknown())`). */
function isOpenObject(s: Record<string, unknown>): boolean {
  if (s.type !== 'object' || (s.properties && Object.keys(s.properties).length > 0) || s.required) return false;
  const pattern = s.patternProperties as Record<string, object> | undefined;
  const extra = s.additionalProperties;
  const free = (v: unknown) => v === true || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);
  if (pattern) return Object.keys(pattern).every((k) => k === '^.*$' && free(pattern[k])) && (extra === undefined || free(extra));
  return free(extra);
}

/**
 * The schema as fast-json-stringify is given it: an open object (a record, whose fields only the collection knows)
 * becomes `{}`, which it writes with JSON.stringify (D452). Its own writer tests each key against the pattern and
 * writes each value apart, about twice the time on a page of records (issue 14); it also dropped a key holding a line
 * break, which `^.*$` does not match, and JSON.stringify writes it. Everything with declared properties keeps its
 * schema, so unknown keys there are still left out.
 */
export function forSerializer(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(forSerializer);
  if (typeof schema !== 'object' || schema === null) return schema;
  const s = schema as Record<string, unknown>;
  if (isOpenObject(s)) return {};
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, forSerializer(v)]));
}

/** Fastify's own serializer compiler (fast-json-stringify with no shared schemas: the app adds none), cached. */
export function compileSerializer({ schema }: { schema: object }): (doc: unknown) => string {
  const key = JSON.stringify(schema);
  let compiled = serializers.get(key);
  return (doc) => {
    if (!compiled) {
      compiled = fastJsonStringify(forSerializer(schema) as never) as (doc: unknown) => string;
      serializers.set(key, compiled);
    }
    return compiled(doc);
  };
}
