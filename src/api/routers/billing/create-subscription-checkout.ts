import { orgProcedure } from '../../trpc/trpc.js';
import { requireBilling } from '../../../billing/stripe.js';
import {
  createSubscriptionCheckoutMeta,
  ZCreateSubscriptionCheckoutRequest,
  ZCreateSubscriptionCheckoutResponse,
} from './create-subscription-checkout.types.js';

export const createSubscriptionCheckoutRoute = orgProcedure('admin')
  .meta(createSubscriptionCheckoutMeta)
  .input(ZCreateSubscriptionCheckoutRequest)
  .output(ZCreateSubscriptionCheckoutResponse)
  .mutation(({ ctx, input }) =>
    requireBilling(ctx.stripeBilling).createSubscriptionCheckout(input.organizationId, input.plan),
  );
