/**
 * fast-check arbitraries from the JSON Schemas of an OpenAPI 3.1 document: values the schema allows (`valid`), and
 * values it refuses or that stretch it (`anyJson`, `mutated`) to feed negative cases. Covers the subset our generated
 * document uses (types, enum/const, formats, patterns, bounds, arrays, objects, anyOf/oneOf/allOf of `required`, $ref).
 */
import fc from 'fast-check';

export type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  not?: JsonSchema;
  default?: unknown;
};

/** JSON values of any shape, small. */
export const anyJson: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 2 });

/** Strings a fuzzer likes: empty, long, unicode, NUL, SQL and path fragments. */
const nastyString = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.constantFrom('', '\u0000', "' OR 1=1 --", '../../etc/passwd', '%00', 'ü🙂', ' ', 'null', '-1', '1e309', '0x'),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
);

export class SchemaArbitraries {
  constructor(private readonly document: { components?: { schemas?: Record<string, JsonSchema> } }) {}

  private resolve(schema: JsonSchema): JsonSchema {
    let s = schema;
    for (let i = 0; s.$ref && i < 16; i++) {
      const name = s.$ref.replace('#/components/schemas/', '');
      s = this.document.components?.schemas?.[name] ?? {};
    }
    return s;
  }

  /** Values the schema allows (as far as this subset knows; the fuzz test checks each with the real validator). */
  valid(input: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
    const schema = this.resolve(input);
    if (schema.const !== undefined) return fc.constant(schema.const);
    if (schema.enum?.length) return fc.constantFrom(...schema.enum);
    if (schema.anyOf?.length || schema.oneOf?.length)
      return fc.oneof(...(schema.anyOf ?? schema.oneOf)!.map((s) => this.valid(s, depth + 1)));
    const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
    if (types.length > 1) return fc.oneof(...types.map((type) => this.valid({ ...schema, type }, depth)));
    const base = this.validOfType(schema, types[0], depth);
    // `allOf` of `required`-only alternatives ("exactly one of a and b"): keep the values that satisfy them.
    if (schema.allOf?.length) return base.filter((v) => schema.allOf!.every((part) => satisfiesRequired(part, v)));
    return base;
  }

  private validOfType(schema: JsonSchema, type: string | undefined, depth: number): fc.Arbitrary<unknown> {
    switch (type) {
      case 'null':
        return fc.constant(null);
      case 'boolean':
        return fc.boolean();
      case 'integer':
      case 'number': {
        const min =
          schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : -1_000_000);
        const max =
          schema.maximum ?? (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - 1 : 1_000_000_000);
        const ints = fc.oneof(
          fc.constantFrom(...[min, max].filter(Number.isSafeInteger)),
          fc.integer({ min: Math.max(min, Number.MIN_SAFE_INTEGER), max: Math.min(max, Number.MAX_SAFE_INTEGER) }),
        );
        return type === 'integer'
          ? ints
          : fc.oneof(ints, fc.double({ min, max, noNaN: true, noDefaultInfinity: true }));
      }
      case 'string':
        return this.validString(schema);
      case 'array': {
        const minLength = schema.minItems ?? 0;
        const maxLength = Math.min(schema.maxItems ?? 3, minLength + 3);
        return fc.array(schema.items && depth < 6 ? this.valid(schema.items, depth + 1) : anyJson, {
          minLength,
          maxLength,
        });
      }
      case 'object':
      case undefined: {
        if (!schema.properties && type === undefined) return anyJson;
        const properties = schema.properties ?? {};
        const required = new Set(schema.required ?? []);
        const record: Record<string, fc.Arbitrary<unknown>> = {};
        for (const [name, property] of Object.entries(properties))
          record[name] = depth < 6 ? this.valid(property, depth + 1) : anyJson;
        const known = fc.record(record, { requiredKeys: [...required].filter((k) => k in record) });
        if (schema.additionalProperties === false || Object.keys(properties).length > 0) return known;
        const values =
          typeof schema.additionalProperties === 'object'
            ? this.valid(schema.additionalProperties, depth + 1)
            : anyJson;
        return fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), values, { maxKeys: 3 });
      }
      default:
        return anyJson;
    }
  }

  private validString(schema: JsonSchema): fc.Arbitrary<string> {
    const minLength = schema.minLength ?? 0;
    const maxLength = schema.maxLength ?? Math.max(minLength, 40);
    const fits = (s: string) => s.length >= minLength && s.length <= (schema.maxLength ?? Infinity);
    switch (schema.format) {
      case 'uuid':
        return fc.uuid();
      case 'email':
        return fc.emailAddress().filter(fits);
      case 'uri':
      case 'url':
        return fc.webUrl().filter(fits);
      case 'date-time':
        // Future times: some fields (expiresAt) must be in the future, a rule JSON Schema cannot state (it is in their description).
        return fc
          .date({ min: new Date('2030-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
          .map((d) => d.toISOString());
      default:
        break;
    }
    if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern)).filter(fits);
    return fc.oneof(
      fc.string({ minLength, maxLength: Math.min(maxLength, minLength + 24) }),
      // Postgres text cannot hold U+0000: a classic 500.
      fc
        .string({ minLength: Math.max(0, minLength - 1), maxLength: Math.min(maxLength - 1, minLength + 8) })
        .map((s) => `${s}\u0000`),
      fc.string({ unit: 'grapheme', minLength, maxLength: Math.min(maxLength, minLength + 8) }),
      ...(maxLength > 1_000 ? [fc.constant('x'.repeat(Math.min(maxLength, 4_096)))] : []),
    );
  }

  /** A value near the schema that it likely refuses: a wrong type, a missing required key, a stretched bound. */
  mutated(input: JsonSchema): fc.Arbitrary<unknown> {
    const schema = this.resolve(input);
    const wrong = fc.oneof(anyJson, nastyString, fc.constantFrom(-1, 0, 2 ** 53, 1.5, true, null, [], {}));
    const entries = Object.entries(schema.properties ?? {});
    if (entries.length === 0) return wrong;
    return fc.oneof(
      wrong,
      // One property replaced by a wrong value.
      fc
        .tuple(this.valid(schema), fc.constantFrom(...entries.map(([name]) => name)), wrong)
        .map(([value, key, bad]) => ({ ...(value as object), [key]: bad })),
      // One required property left out.
      ...((schema.required ?? []).length > 0
        ? [
            fc.tuple(this.valid(schema), fc.constantFrom(...schema.required!)).map(([value, key]) => {
              const copy = { ...(value as Record<string, unknown>) };
              delete copy[key];
              return copy;
            }),
          ]
        : []),
      // An unknown property.
      this.valid(schema).map((value) => ({ ...(value as object), ['unexpected_' + 'field']: 1 })),
    );
  }
}

function satisfiesRequired(part: JsonSchema, value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const has = (s: JsonSchema) => (s.required ?? []).every((k) => k in value);
  if (part.oneOf) return part.oneOf.filter(has).length === 1;
  if (part.anyOf) return part.anyOf.some(has);
  return has(part);
}
