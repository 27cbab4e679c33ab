import { orgProcedure } from '../../trpc/trpc.js';
import { requireBilling } from '../../../billing/stripe.js';
import {
  createCreditCheckoutMeta,
  ZCreateCreditCheckoutRequest,
  ZCreateCreditCheckoutResponse,
} from './create-credit-checkout.types.js';

// Money-moving: the admin permission (owner/admin users, admin keys and tokens).
export const createCreditCheckoutRoute = orgProcedure('admin')
  .meta(createCreditCheckoutMeta)
  .input(ZCreateCreditCheckoutRequest)
  .output(ZCreateCreditCheckoutResponse)
  .mutation(({ ctx, input }) =>
    requireBilling(ctx.stripeBilling).createCreditCheckout(input.organizationId, input.packId),
  );
