import { router } from '../../trpc/trpc.js';
import { createCreditCheckoutRoute } from './create-credit-checkout.js';
import { createPortalLinkRoute } from './create-portal-link.js';
import { createSubscriptionCheckoutRoute } from './create-subscription-checkout.js';
import { getAccountRoute } from './get-account.js';
import { getPlanRoute } from './get-plan.js';
import { getUsageRoute } from './get-usage.js';
import { listEntriesRoute } from './list-entries.js';
import { listPacksRoute } from './list-packs.js';

export const billingRouter = router({
  account: getAccountRoute,
  entries: listEntriesRoute,
  usage: getUsageRoute,
  plan: getPlanRoute,
  packs: listPacksRoute,
  createCreditCheckout: createCreditCheckoutRoute,
  createSubscriptionCheckout: createSubscriptionCheckoutRoute,
  portalLink: createPortalLinkRoute,
});
