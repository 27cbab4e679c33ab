/**
 * Stripe settings read from the environment (src/config.ts): the credit packs sold through Checkout and the mapping of
 * Stripe prices to plans. Parsed here, once, so that a bad pack or price mapping stops the service at startup with a
 * message naming it.
 */
import { z } from 'zod';
import { isAmount } from './amount.js';

const creditAmount = z.string().refine((text) => isAmount(text), {
  message: 'must be a positive decimal string with at most 8 decimals, such as "25" or "12.5"',
});

const creditPack = z.object({
  /** Stable id the API asks for (`starter-25`). */
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be lowercase letters, digits, - or _ (at most 64)'),
  /** Shown on the Checkout page. */
  name: z.string().min(1).max(120),
  /** What the buyer pays, in US cents. */
  priceCents: z.number().int().min(50, 'Stripe charges at least 50 cents').max(99_999_999),
  /** USDC credited when the payment clears. */
  credits: creditAmount,
});
export type CreditPack = z.infer<typeof creditPack>;

const planPrice = z.object({
  /** The Stripe price id Checkout subscribes to (price_…). */
  price: z.string().regex(/^price_\w+$/, 'must be a Stripe price id (price_…)'),
  /** The price's lookup key, if it has one: subscription events match on either. */
  lookupKey: z.string().min(1).max(200).optional(),
  plan: z.enum(['starter', 'pro', 'enterprise'], { message: "must be 'starter', 'pro' or 'enterprise'" }),
});
export type PlanPrice = z.infer<typeof planPrice>;

/** A JSON environment value parsed by `schema`, with JSON syntax errors reported like schema errors. */
function jsonOf<T extends z.ZodType>(schema: T) {
  return z.string().transform((text, ctx): z.infer<T> => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `must be JSON: ${(err as Error).message}` });
      return z.NEVER;
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues)
        ctx.addIssue({ code: 'custom', message: `${issue.path.join('.') || '(root)'}: ${issue.message}` });
      return z.NEVER;
    }
    return parsed.data;
  });
}

export const creditPacksSchema = jsonOf(
  z.array(creditPack).refine((packs) => new Set(packs.map((p) => p.id)).size === packs.length, {
    message: 'pack ids must be unique',
  }),
);

export const planPricesSchema = jsonOf(
  z.array(planPrice).refine(
    (prices) => {
      const names = prices.flatMap((p) => (p.lookupKey ? [p.price, p.lookupKey] : [p.price]));
      return new Set(names).size === names.length;
    },
    { message: 'price ids and lookup keys must be unique' },
  ),
);

export interface StripeSettings {
  secretKey: string;
  webhookSecret: string;
  /** Where the SDK sends requests; Stripe's API unless STRIPE_API_BASE points elsewhere (stripe-mock in tests). */
  api: { host: string; port: number; protocol: 'http' | 'https' } | undefined;
  creditPacks: CreditPack[];
  planPrices: PlanPrice[];
  /** Checkout returns here; `{CHECKOUT_SESSION_ID}` is filled in by Stripe. */
  successUrl: string;
  cancelUrl: string;
  /** The Customer Portal's way back. */
  portalReturnUrl: string;
}

/** STRIPE_API_BASE (`http://127.0.0.1:12111`) as the SDK's host, port and protocol. */
export function apiBaseOf(url: URL): StripeSettings['api'] {
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return { host: url.hostname, port: Number(url.port || (protocol === 'http' ? 80 : 443)), protocol };
}
