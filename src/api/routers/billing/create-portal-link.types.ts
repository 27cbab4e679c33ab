import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const createPortalLinkMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/billing/portal-link',
    tags: ['Billing'],
    summary:
      'A Stripe Customer Portal link (change or cancel the subscription, invoices, payment methods). Owner/admin (or an admin key); 503 when billing is not configured',
    protect: true,
  },
};
export const ZCreatePortalLinkRequest = z.looseObject({});
export const ZCreatePortalLinkResponse = z.object({ url: z.string() });
