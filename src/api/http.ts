import type http from 'node:http';

/** An error with an HTTP status and a message safe to show to the caller. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers?: Record<string, string>,
    readonly details?: Record<string, unknown>,
    /** The whole response body, for surfaces with their own error shape (tRPC, REST); default `{ error, ...details }`. */
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/**
 * Reads a JSON body up to `limit` bytes: 413 beyond it, 415 for another content type, 400 for malformed JSON.
 * With `emptyIsUndefined`, a request without a body (or with an empty one) has no input rather than malformed JSON.
 */
export async function readJsonBody(
  req: http.IncomingMessage,
  limit: number,
  options: { emptyIsUndefined?: boolean } = {},
): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  const type = req.headers['content-type'] ?? '';
  const isJson = /^application\/json\b/i.test(type);
  // Without a content type, only an empty body passes (when that means "no input").
  const unsupported = () => new HttpError(415, `content-type must be application/json${type ? `, not ${type}` : ''}`);
  if (!isJson && !(options.emptyIsUndefined && type === '' && declared === 0)) throw unsupported();
  const body = await readRawBody(req, limit);
  if (options.emptyIsUndefined && body.length === 0) return undefined;
  if (!isJson) throw unsupported();
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `malformed JSON: ${(err as Error).message}`);
  }
}

/** The body exactly as sent, up to `limit` bytes (413 beyond it): for signatures over the raw bytes. */
export async function readRawBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > limit) throw new HttpError(413, `body larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `body larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Whether a parsed JSON value holds U+0000 in any string or key (Postgres text cannot store it). */
export function containsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (Array.isArray(value)) return value.some(containsNul);
  if (value && typeof value === 'object')
    return Object.entries(value).some(([key, item]) => key.includes('\u0000') || containsNul(item));
  return false;
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}
