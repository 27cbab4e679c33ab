import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const createSubscriptionCheckoutMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/billing/subscription-checkout',
    tags: ['Billing'],
    summary:
      'Subscribe to a plan: a Stripe Checkout session; the plan changes when Stripe reports the subscription. Owner/admin (or an admin key); 400 for a plan not on sale, 503 when billing is not configured',
    protect: true,
  },
};
export const ZCreateSubscriptionCheckoutRequest = z.object({
  plan: z.enum(['starter', 'pro', 'enterprise']),
});
export const ZCreateSubscriptionCheckoutResponse = z.object({
  url: z.string().describe('The Checkout page'),
  sessionId: z.string().describe('The Stripe Checkout session id'),
});
