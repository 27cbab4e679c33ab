import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const createCreditCheckoutMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/billing/credit-checkout',
    tags: ['Billing'],
    summary:
      'Buy a credit pack: a Stripe Checkout session to send the buyer to; the credits arrive when the payment clears. Owner/admin (or an admin key); 400 for a pack not on sale, 503 when billing is not configured',
    protect: true,
  },
};
export const ZCreateCreditCheckoutRequest = z.object({
  packId: z.string().min(1).max(64).describe('A pack of GET …/billing/packs'),
});
export const ZCreateCreditCheckoutResponse = z.object({
  url: z.string().describe('The Checkout page'),
  purchaseId: z.string(),
  sessionId: z.string().describe('The Stripe Checkout session id'),
});
