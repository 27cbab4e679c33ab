import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { amount, holdOutput } from './schema.js';

export const getAccountMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/billing/account',
    tags: ['Billing'],
    summary: 'Credits: balance, held by active holds, available (balance − held), owed, and the active holds',
    protect: true,
  },
};
export const ZGetAccountRequest = z.looseObject({});
export const ZGetAccountResponse = z.object({
  currency: z.literal('USDC'),
  balance: amount,
  held: amount,
  available: amount,
  owed: amount.describe('Owed after a reversed payment: paid calls are refused (402) until a credit settles it'),
  holds: z.array(holdOutput),
});
