import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { amount } from './schema.js';

export const getUsageMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/billing/usage',
    tags: ['Billing'],
    summary:
      'Credits charged per UTC day or month (paid calls and captured holds); periods without charges are left out',
    protect: true,
  },
};
export const ZGetUsageRequest = z.object({
  period: z.enum(['day', 'month']).default('day'),
  from: z.iso
    .datetime({ offset: true })
    .optional()
    .describe('Inclusive; 30 days (day) or a year (month) before `to` when absent'),
  to: z.iso.datetime({ offset: true }).optional().describe('Exclusive; now when absent'),
});
export const ZGetUsageResponse = z.object({
  period: z.enum(['day', 'month']),
  items: z.array(
    z.object({
      periodStart: z.string().describe("The period's first day (UTC), YYYY-MM-DD"),
      spent: amount,
      charges: z.number().int(),
    }),
  ),
});
