/**
 * Makes the generated OpenAPI document say what the API answers. trpc-to-openapi documents a fixed set of error statuses
 * with a body that forbids what tRPC sends (`data`, zod `issues` with `code`, `path`, `origin`, …), and cannot see
 * refinements. Here: every operation lists every status the API layer can answer, with the exact error body, and the
 * "exactly one of" rules declared with `exactlyOneOf` become JSON Schema.
 */
import { z } from 'zod';
import type { AnyRouter } from '@trpc/server';

type JsonSchema = Record<string, unknown>;
type Operation = {
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  responses?: Record<string, unknown>;
};
type OpenApiDocument = {
  paths?: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown> };
};

/**
 * An input object of which exactly one key of each group must be given: enforced by zod, and recorded in the schema's
 * metadata so that the OpenAPI document states it too (`oneOf` of `required`).
 */
export function exactlyOneOf<T extends z.ZodObject>(schema: T, ...groups: [string, string][]) {
  let refined = schema;
  for (const group of groups) {
    refined = refined.refine(
      (v) => group.filter((key) => (v as Record<string, unknown>)[key] !== undefined).length === 1,
      {
        message: `give exactly one of ${group.join(' and ')}`,
        path: [group[0]],
      },
    );
  }
  return refined.meta({ exactlyOneOf: groups });
}

/** Every error the API layer answers, by status (the codes tRPC maps to it). */
const ERRORS: Record<number, { codes: string[]; description: string; bodies?: 'all'; onlyPaths?: RegExp }> = {
  400: {
    codes: ['BAD_REQUEST', 'PARSE_ERROR'],
    description:
      'Invalid input: malformed JSON, a value the schema refuses (`issues`), or a rule checked beyond the schema (`data.issues`)',
  },
  401: { codes: ['UNAUTHORIZED'], description: 'Missing, invalid or expired credentials' },
  403: {
    codes: ['FORBIDDEN'],
    description:
      "The caller lacks access to this organization or permission, or the organization's plan allows no more",
  },
  404: { codes: ['NOT_FOUND'], description: 'Not found (or not visible to the caller)' },
  409: { codes: ['CONFLICT'], description: 'Conflicts with the current state (e.g. already exists)' },
  413: { codes: ['PAYLOAD_TOO_LARGE'], description: 'The request body is larger than the limit', bodies: 'all' },
  415: { codes: ['UNSUPPORTED_MEDIA_TYPE'], description: 'The request body is not `application/json`', bodies: 'all' },
  429: {
    codes: ['TOO_MANY_REQUESTS'],
    description: 'Rate limit exceeded (or sign-in locked); retry after `Retry-After` seconds',
  },
  500: { codes: ['INTERNAL_SERVER_ERROR'], description: 'Unexpected failure (logged); the body carries no detail' },
  // Only the billing operations depend on settings a server may lack (Stripe).
  503: {
    codes: ['SERVICE_UNAVAILABLE'],
    description: 'Billing is not configured on this server (STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET unset)',
    onlyPaths: /\/billing\//,
  },
};

const rateLimitHeaders = {
  'X-RateLimit-Limit': { description: 'Requests allowed in the window', schema: { type: 'integer' } },
  'X-RateLimit-Remaining': { description: 'Requests left in the window', schema: { type: 'integer' } },
  'X-RateLimit-Reset': { description: 'Unix time (s) when the window ends', schema: { type: 'integer' } },
};

function errorSchema(status: number, codes: string[]): JsonSchema {
  const code = { type: 'string', enum: codes };
  return {
    type: 'object',
    title: `Error (${status})`,
    required: ['message', 'code', 'data'],
    additionalProperties: false,
    properties: {
      message: { type: 'string', description: 'What went wrong, for people' },
      code,
      data: {
        type: 'object',
        required: ['code', 'httpStatus'],
        additionalProperties: false,
        properties: {
          code,
          httpStatus: { type: 'integer', const: status },
          path: { type: 'string', description: 'The procedure (tRPC path) that answered' },
          issues: {
            type: 'array',
            description: 'Field-level problems: dotted path and message',
            items: {
              type: 'object',
              required: ['path', 'message'],
              additionalProperties: false,
              properties: { path: { type: 'string' }, message: { type: 'string' } },
            },
          },
        },
      },
      issues: {
        type: 'array',
        description:
          'Input validation failures as zod reports them: `code`, `path`, `message`, plus fields that depend on the code (`origin`, `expected`, `format`, `minimum`, …)',
        items: {
          type: 'object',
          required: ['code', 'path', 'message'],
          additionalProperties: true,
          properties: {
            code: { type: 'string' },
            path: { type: 'array', items: { type: ['string', 'integer'] } },
            message: { type: 'string' },
          },
        },
      },
    },
  };
}

/** The input schemas' `exactlyOneOf` groups, by "METHOD path" of their REST operation. */
function exactlyOneOfGroups(router: AnyRouter): Map<string, [string, string][]> {
  const out = new Map<string, [string, string][]>();
  for (const procedure of Object.values(
    router._def.procedures as Record<
      string,
      { _def: { meta?: { openapi?: { method: string; path: string } }; inputs?: unknown[] } }
    >,
  )) {
    const openapi = procedure._def.meta?.openapi;
    if (!openapi) continue;
    const groups = (procedure._def.inputs ?? []).flatMap(
      (input) => ((input as z.ZodType).meta?.()?.exactlyOneOf as [string, string][] | undefined) ?? [],
    );
    if (groups.length > 0) out.set(`${openapi.method.toLowerCase()} ${openapi.path}`, groups);
  }
  return out;
}

/** Rewrites the generated document in place (and returns it). */
export function describeAnswers<D>(generated: D, router: AnyRouter): D {
  const document = generated as OpenApiDocument;
  const schemas = ((document.components ??= {}).schemas ??= {});
  for (const name of Object.keys(schemas)) if (name.startsWith('error.')) delete schemas[name];
  for (const [status, { codes }] of Object.entries(ERRORS))
    schemas[`Error${status}`] = errorSchema(Number(status), codes);
  const oneOfGroups = exactlyOneOfGroups(router);
  for (const [path, operations] of Object.entries(document.paths ?? {})) {
    for (const [method, operation] of Object.entries(operations)) {
      const takesBody = method === 'post' || method === 'put' || method === 'patch';
      const responses: Record<string, unknown> = { ...operation.responses };
      for (const key of Object.keys(responses)) if (key !== '200') delete responses[key];
      for (const [status, error] of Object.entries(ERRORS)) {
        if ((error.bodies && !takesBody) || (error.onlyPaths && !error.onlyPaths.test(path))) continue;
        responses[status] = {
          description: error.description,
          ...(status === '429'
            ? {
                headers: {
                  'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } },
                  ...rateLimitHeaders,
                },
              }
            : {}),
          content: { 'application/json': { schema: { $ref: `#/components/schemas/Error${status}` } } },
        };
      }
      operation.responses = responses;
      const groups = oneOfGroups.get(`${method} ${path}`);
      const body = operation.requestBody?.content?.['application/json'];
      if (groups && body?.schema)
        body.schema.allOf = groups.map((group) => ({ oneOf: group.map((key) => ({ required: [key] })) }));
    }
  }
  return generated;
}
