import { orgProcedure } from '../../trpc/trpc.js';
import { requireBilling } from '../../../billing/stripe.js';
import {
  createPortalLinkMeta,
  ZCreatePortalLinkRequest,
  ZCreatePortalLinkResponse,
} from './create-portal-link.types.js';

export const createPortalLinkRoute = orgProcedure('admin')
  .meta(createPortalLinkMeta)
  .input(ZCreatePortalLinkRequest)
  .output(ZCreatePortalLinkResponse)
  .mutation(({ ctx, input }) => requireBilling(ctx.stripeBilling).createPortalLink(input.organizationId));
