/**
 * The agent registration file (ERC-8004, at the agent URI), read only when the URI carries it — a `data:` URI, base64
 * or percent-encoded. An http(s) or ipfs file is not fetched at query time: an answer must depend only on the chain as
 * of its block (same question, same bytes), and a web server's answer changes under it. Pure, so every case is
 * unit-tested.
 */
import { z } from 'zod';

export interface RegistrationService {
  name: string;
  endpoint: string;
  version: string | null;
}

export interface RegistrationFile {
  type: string | null;
  name: string | null;
  description: string | null;
  image: string | null;
  services: RegistrationService[];
  x402Support: boolean | null;
  active: boolean | null;
  registrations: { agentId: string; agentRegistry: string }[];
  supportedTrust: string[];
}

export type RegistrationFileResult =
  | { status: 'parsed'; file: RegistrationFile }
  | { status: 'not_fetched' | 'invalid'; reason: string }
  | { status: 'no_uri' };

const text = z.string().optional().catch(undefined);
const service = z.object({
  name: z.string(),
  endpoint: z.string(),
  version: z.union([z.string(), z.number()]).optional(),
});
const registration = z.object({ agentId: z.union([z.string(), z.number()]), agentRegistry: z.string() });
const fileSchema = z.object({
  type: text,
  name: text,
  description: text,
  image: text,
  // Older files say `endpoints`: both are accepted, `services` first.
  services: z.array(z.unknown()).optional().catch(undefined),
  endpoints: z.array(z.unknown()).optional().catch(undefined),
  x402Support: z.boolean().optional().catch(undefined),
  active: z.boolean().optional().catch(undefined),
  registrations: z.array(z.unknown()).optional().catch(undefined),
  supportedTrust: z.array(z.unknown()).optional().catch(undefined),
});

export const NOT_FETCHED_REASON =
  'the registration file is not fetched at query time (only data: URIs are read): an answer depends only on the ' +
  'chain as of its block';

/** Decodes a data: URI's payload as UTF-8 text; undefined when the URI is malformed. */
function dataUriText(uri: string): string | undefined {
  const comma = uri.indexOf(',');
  if (comma < 0) return undefined;
  const header = uri.slice('data:'.length, comma);
  const payload = uri.slice(comma + 1);
  try {
    if (header.split(';').some((part) => part.trim().toLowerCase() === 'base64')) {
      const bytes = Buffer.from(payload, 'base64');
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    }
    return decodeURIComponent(payload);
  } catch {
    return undefined;
  }
}

/** The registration file an agent URI carries, or why there is none. */
export function readRegistrationFile(uri: string | null): RegistrationFileResult {
  if (uri === null || uri.trim() === '') return { status: 'no_uri' };
  if (!/^data:/i.test(uri)) return { status: 'not_fetched', reason: NOT_FETCHED_REASON };
  const body = dataUriText(uri);
  if (body === undefined) return { status: 'invalid', reason: 'the data: URI does not decode' };
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { status: 'invalid', reason: 'the data: URI does not hold JSON' };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { status: 'invalid', reason: 'the registration file is not a JSON object' };
  }
  const f = fileSchema.parse(json);
  const services = (f.services ?? f.endpoints ?? []).flatMap((entry) => {
    const s = service.safeParse(entry);
    return s.success
      ? [
          {
            name: s.data.name,
            endpoint: s.data.endpoint,
            version: s.data.version === undefined ? null : String(s.data.version),
          },
        ]
      : [];
  });
  const registrations = (f.registrations ?? []).flatMap((entry) => {
    const r = registration.safeParse(entry);
    return r.success ? [{ agentId: String(r.data.agentId), agentRegistry: r.data.agentRegistry }] : [];
  });
  return {
    status: 'parsed',
    file: {
      type: f.type ?? null,
      name: f.name ?? null,
      description: f.description ?? null,
      image: f.image ?? null,
      services,
      x402Support: f.x402Support ?? null,
      active: f.active ?? null,
      registrations,
      supportedTrust: (f.supportedTrust ?? []).filter((t): t is string => typeof t === 'string'),
    },
  };
}

/** The MCP endpoint a registration file declares (the first service named MCP, any case). */
export function mcpEndpoint(file: RegistrationFile | undefined): string | null {
  return file?.services.find((s) => s.name.toLowerCase() === 'mcp')?.endpoint ?? null;
}
