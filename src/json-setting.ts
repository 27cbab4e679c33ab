/**
 * A setting given as JSON text (an environment variable): parsed, then checked by the schema piped after it. Text
 * that is not JSON is an issue with `message`, reported like the schema's own.
 */
import { z } from 'zod';

export function jsonSetting(message: string) {
  return z.string().transform((text, ctx): unknown => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
  });
}
