/**
 * Stripe: credit packs bought through Checkout, subscriptions that set the organization's plan, the Customer Portal,
 * and the webhook that applies what Stripe reports.
 *
 * The webhook is the only way money reaches the ledger. Each event is verified (signature over the raw body, 5-minute
 * tolerance), then applied in ONE transaction that first records its id in `stripe_events`: a replay, or a duplicate
 * delivered concurrently (it waits on the uncommitted id), does nothing. Effects are keyed in the ledger as well
 * (`stripe:checkout:<session>`, `stripe:invoice:<invoice>`, `stripe:refund:<refund>`, `stripe:dispute:<dispute>`), so
 * two event types reporting one payment credit it once. Subscription events carry Stripe's `created` time; a
 * subscription keeps the time of the last event applied, and an older event changes nothing.
 *
 * Disputes: `charge.dispute.created` takes back the disputed share of the purchase's credits at once (what was spent is
 * recorded as owed, which refuses paid calls until settled); `charge.dispute.closed` as `won` gives it back.
 */
import Stripe from 'stripe';
import type pg from 'pg';
import type { Db } from '../db/pool.js';
import { inTransaction, withTransaction, type Queryable } from '../db/transaction.js';
import type { Logger } from '../logger.js';
import { setOrganizationPlan } from '../organizations/plan.js';
import { formatAmount, toUnits } from './amount.js';
import { BillingError } from './errors.js';
import { credit, reverseCredit } from './ledger.js';
import { planLimits, type Plan } from './plans.js';
import type { CreditPack, PlanPrice, StripeSettings } from './stripe-config.js';

/** Stripe's signature tolerance: events signed longer ago are refused (replay protection). */
const SIGNATURE_TOLERANCE_SECONDS = 300;

export interface CreditCheckout {
  purchaseId: string;
  sessionId: string;
  /** Where to send the buyer. */
  url: string;
}

export type WebhookOutcome =
  /** The event was applied now. */
  | { status: 'applied'; eventId: string; type: string }
  /** Applied before (a replay or a concurrent duplicate): nothing changed. */
  | { status: 'duplicate'; eventId: string; type: string };

/** Subscription states that give the subscribed plan (past_due keeps it while Stripe retries the payment). */
const PLAN_GIVING_STATUSES = ['active', 'trialing', 'past_due'] as const;
const SUBSCRIPTION_STATUSES = [
  ...PLAN_GIVING_STATUSES,
  'canceled',
  'unpaid',
  'incomplete',
  'incomplete_expired',
  'paused',
] as const;
type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

interface PurchaseRow {
  id: string;
  organization_id: string;
  pack_id: string;
  price_cents: number;
  currency: string;
  credit_amount: string;
  status: 'pending' | 'awaiting_payment' | 'paid' | 'failed' | 'expired';
}

export function billingNotConfigured(): BillingError {
  return new BillingError(
    'billing_not_configured',
    'billing is not configured (set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET)',
  );
}

export class StripeBilling {
  readonly stripe: Stripe;
  private readonly log: Logger;

  constructor(
    private readonly deps: { pool: Db; settings: StripeSettings; logger: Logger; maxNetworkRetries?: number },
  ) {
    this.stripe = new Stripe(deps.settings.secretKey, {
      ...(deps.settings.api ?? {}),
      maxNetworkRetries: deps.maxNetworkRetries ?? 2,
      appInfo: { name: 'erc8004-backend' },
    });
    this.log = deps.logger.child({ component: 'stripe' });
  }

  get creditPacks(): readonly CreditPack[] {
    return this.deps.settings.creditPacks;
  }

  get planPrices(): readonly PlanPrice[] {
    return this.deps.settings.planPrices;
  }

  /**
   * Starts buying a credit pack: a pending purchase, then a Checkout Session in payment mode that carries the
   * organization and purchase ids (idempotency key `checkout:<purchase id>`, so an SDK retry makes no second session).
   * The credits arrive with the webhook once the payment clears.
   */
  async createCreditCheckout(organizationId: string, packId: string): Promise<CreditCheckout> {
    const pack = this.creditPacks.find((p) => p.id === packId);
    if (!pack) {
      const offered = this.creditPacks.map((p) => p.id).join(', ') || 'none';
      throw new BillingError('unknown_pack', `no credit pack ${JSON.stringify(packId)} (offered: ${offered})`);
    }
    const { rows } = await this.deps.pool.query<{ id: string }>(
      `INSERT INTO credit_purchases (organization_id, pack_id, price_cents, currency, credit_amount)
       VALUES ($1, $2, $3, 'usd', $4) RETURNING id`,
      [organizationId, pack.id, pack.priceCents, pack.credits],
    );
    const purchaseId = rows[0]!.id;
    const metadata = { org_id: organizationId, purchase_id: purchaseId };
    const { settings } = this.deps;
    const session = await this.stripe.checkout.sessions.create(
      {
        mode: 'payment',
        line_items: [
          {
            quantity: 1,
            price_data: { currency: 'usd', unit_amount: pack.priceCents, product_data: { name: pack.name } },
          },
        ],
        client_reference_id: organizationId,
        metadata,
        payment_intent_data: { metadata },
        success_url: settings.successUrl,
        cancel_url: settings.cancelUrl,
      },
      { idempotencyKey: `checkout:${purchaseId}` },
    );
    await this.deps.pool.query(`UPDATE credit_purchases SET checkout_session_id = $2 WHERE id = $1`, [
      purchaseId,
      session.id,
    ]);
    if (!session.url) throw new Error(`Stripe returned checkout session ${session.id} without a URL`);
    return { purchaseId, sessionId: session.id, url: session.url };
  }

  /** Checkout in subscription mode for the plan's price, on the organization's Stripe customer. */
  async createSubscriptionCheckout(organizationId: string, plan: Plan): Promise<{ sessionId: string; url: string }> {
    const price = this.planPrices.find((p) => p.plan === plan);
    if (!price) {
      const offered = [...new Set(this.planPrices.map((p) => p.plan))].join(', ') || 'none';
      throw new BillingError('unknown_plan', `the plan ${JSON.stringify(plan)} cannot be bought (offered: ${offered})`);
    }
    const customer = await this.ensureCustomer(organizationId);
    const { settings } = this.deps;
    const session = await this.stripe.checkout.sessions.create({
      mode: 'subscription',
      customer,
      line_items: [{ price: price.price, quantity: 1 }],
      client_reference_id: organizationId,
      metadata: { org_id: organizationId },
      subscription_data: { metadata: { org_id: organizationId } },
      success_url: settings.successUrl,
      cancel_url: settings.cancelUrl,
    });
    if (!session.url) throw new Error(`Stripe returned checkout session ${session.id} without a URL`);
    return { sessionId: session.id, url: session.url };
  }

  /** A Customer Portal session (change or cancel the subscription, invoices, payment methods). */
  async createPortalLink(organizationId: string): Promise<{ url: string }> {
    const customer = await this.ensureCustomer(organizationId);
    const session = await this.stripe.billingPortal.sessions.create({
      customer,
      return_url: this.deps.settings.portalReturnUrl,
    });
    return { url: session.url };
  }

  /**
   * The organization's Stripe customer, created on first use. Concurrent first uses share one: Stripe answers the
   * same idempotency key with the same customer, and only the first id is stored (the others read it back).
   */
  async ensureCustomer(organizationId: string): Promise<string> {
    const stored = await this.storedCustomer(organizationId);
    if (stored) return stored;
    const customer = await this.stripe.customers.create(
      { metadata: { org_id: organizationId } },
      { idempotencyKey: `customer:${organizationId}` },
    );
    const { rows } = await this.deps.pool.query<{ stripe_customer_id: string }>(
      `UPDATE organizations SET stripe_customer_id = $2 WHERE id = $1 AND stripe_customer_id IS NULL
       RETURNING stripe_customer_id`,
      [organizationId, customer.id],
    );
    return rows[0]?.stripe_customer_id ?? (await this.storedCustomer(organizationId))!;
  }

  private async storedCustomer(organizationId: string): Promise<string | null> {
    const { rows } = await this.deps.pool.query<{ stripe_customer_id: string | null }>(
      `SELECT stripe_customer_id FROM organizations WHERE id = $1`,
      [organizationId],
    );
    if (!rows[0]) throw new BillingError('invalid_input', `no organization ${organizationId}`);
    return rows[0].stripe_customer_id;
  }

  /**
   * Verifies a webhook delivery (`rawBody` exactly as received, `signatureHeader` the Stripe-Signature header) and
   * applies its event once. Throws BillingError('invalid_signature') when it does not verify: nothing is applied.
   */
  async handleStripeWebhook(rawBody: Buffer, signatureHeader: string | undefined): Promise<WebhookOutcome> {
    let event: Stripe.Event;
    try {
      event = this.stripe.webhooks.constructEvent(
        rawBody,
        signatureHeader ?? '',
        this.deps.settings.webhookSecret,
        SIGNATURE_TOLERANCE_SECONDS,
      );
    } catch (err) {
      if (err instanceof Stripe.errors.StripeSignatureVerificationError) {
        throw new BillingError('invalid_signature', `webhook signature verification failed: ${err.message}`);
      }
      throw err;
    }
    return withTransaction(this.deps.pool, async (client) => {
      const recorded = await client.query(
        `INSERT INTO stripe_events (event_id, type) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING`,
        [event.id, event.type],
      );
      if (recorded.rowCount === 0) return { status: 'duplicate', eventId: event.id, type: event.type };
      await this.apply(client, event);
      return { status: 'applied', eventId: event.id, type: event.type };
    });
  }

  private async apply(client: pg.PoolClient, event: Stripe.Event): Promise<void> {
    const log = this.log.child({ eventId: event.id, type: event.type });
    switch (event.type) {
      case 'checkout.session.completed':
      case 'checkout.session.async_payment_succeeded':
      case 'checkout.session.async_payment_failed':
      case 'checkout.session.expired':
        return this.applyCheckout(client, event.type, event.data.object, log);
      case 'customer.subscription.created':
      case 'customer.subscription.updated':
      case 'customer.subscription.deleted':
      case 'customer.subscription.paused':
      case 'customer.subscription.resumed':
        return this.applySubscription(client, event, event.data.object, log);
      case 'invoice.paid':
        return this.applyInvoicePaid(client, event.data.object, log);
      case 'refund.created':
      case 'refund.updated':
        return this.applyRefund(client, event.data.object, log);
      case 'charge.refunded':
        // Current API versions leave the charge's refund list out; each refund also arrives as refund.created.
        for (const refund of event.data.object.refunds?.data ?? []) await this.applyRefund(client, refund, log);
        return;
      case 'charge.dispute.created':
      case 'charge.dispute.closed':
        return this.applyDispute(client, event.type, event.data.object, log);
      default:
        log.debug('ignored Stripe event type');
    }
  }

  private async applyCheckout(
    client: pg.PoolClient,
    type: string,
    session: Stripe.Checkout.Session,
    log: Logger,
  ): Promise<void> {
    const purchaseId = session.metadata?.purchase_id;
    // Subscriptions are applied from their own events; a payment of no purchase of ours has nothing to credit.
    if (session.mode !== 'payment' || !purchaseId || !UUID.test(purchaseId)) return;
    const { rows } = await client.query<PurchaseRow>(
      `SELECT id, organization_id, pack_id, price_cents, currency, credit_amount::text, status
       FROM credit_purchases WHERE id = $1 FOR UPDATE`,
      [purchaseId],
    );
    const purchase = rows[0];
    if (!purchase || purchase.organization_id !== session.metadata?.org_id) {
      log.warn({ purchaseId, sessionId: session.id }, 'checkout session of no purchase of ours: ignored');
      return;
    }
    const paymentIntent = idOf(session.payment_intent);
    await client.query(
      `UPDATE credit_purchases SET checkout_session_id = $2, payment_intent_id = COALESCE($3, payment_intent_id)
       WHERE id = $1`,
      [purchase.id, session.id, paymentIntent],
    );
    if (purchase.status === 'paid' || purchase.status === 'failed') return;
    const paid = session.payment_status === 'paid' || session.payment_status === 'no_payment_required';
    if (type === 'checkout.session.async_payment_failed') return this.setPurchaseStatus(client, purchase, 'failed');
    if (type === 'checkout.session.expired') return this.setPurchaseStatus(client, purchase, 'expired');
    if (type === 'checkout.session.async_payment_succeeded' || paid) {
      return this.creditPurchase(client, purchase, session, log);
    }
    return this.setPurchaseStatus(client, purchase, 'awaiting_payment');
  }

  private async setPurchaseStatus(client: pg.PoolClient, purchase: PurchaseRow, status: PurchaseRow['status']) {
    await client.query(`UPDATE credit_purchases SET status = $2 WHERE id = $1`, [purchase.id, status]);
  }

  /** Credits the amount stored with the purchase, once the paid amount is checked against its price. */
  private async creditPurchase(
    client: pg.PoolClient,
    purchase: PurchaseRow,
    session: Stripe.Checkout.Session,
    log: Logger,
  ): Promise<void> {
    if (session.amount_total !== purchase.price_cents || session.currency !== purchase.currency) {
      log.error(
        { purchaseId: purchase.id, expected: [purchase.price_cents, purchase.currency] },
        `checkout session ${session.id} paid ${session.amount_total} ${session.currency}, not the pack's price: not credited`,
      );
      return this.setPurchaseStatus(client, purchase, 'failed');
    }
    await credit(inTransaction(client), {
      organizationId: purchase.organization_id,
      kind: 'purchase',
      key: `stripe:checkout:${session.id}`,
      amount: purchase.credit_amount,
      reference: session.id,
      description: `credit pack ${purchase.pack_id}`,
    });
    await this.setPurchaseStatus(client, purchase, 'paid');
  }

  private async applySubscription(
    client: pg.PoolClient,
    event: Stripe.Event,
    subscription: Stripe.Subscription,
    log: Logger,
  ): Promise<void> {
    const organizationId = await this.organizationOf(client, subscription.metadata?.org_id, subscription.customer);
    const item = subscription.items?.data?.[0];
    const price = item ? this.priceOf(item.price) : undefined;
    if (!organizationId || !price) {
      log.warn({ subscriptionId: subscription.id }, 'subscription of no organization or of an unmapped price: ignored');
      return;
    }
    const status: SubscriptionStatus =
      event.type === 'customer.subscription.deleted' ? 'canceled' : subscriptionStatusOf(subscription.status);
    const periodStart = item?.current_period_start;
    const periodEnd = item?.current_period_end;
    const period = periodStart && periodEnd && periodEnd > periodStart ? [periodStart, periodEnd] : [null, null];
    // The organization row first: events of two subscriptions of one organization then decide its plan in turn.
    await client.query(`SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE`, [organizationId]);
    const { rowCount } = await client.query(
      `INSERT INTO subscriptions (organization_id, stripe_subscription_id, plan, status, stripe_price,
                                  current_period_start, current_period_end, last_event_created)
       VALUES ($1, $2, $3, $4, $5, to_timestamp($6), to_timestamp($7), to_timestamp($8))
       ON CONFLICT (stripe_subscription_id) DO UPDATE SET
         plan = EXCLUDED.plan, status = EXCLUDED.status, stripe_price = EXCLUDED.stripe_price,
         current_period_start = EXCLUDED.current_period_start, current_period_end = EXCLUDED.current_period_end,
         last_event_created = EXCLUDED.last_event_created
       WHERE subscriptions.last_event_created IS NULL OR subscriptions.last_event_created <= EXCLUDED.last_event_created`,
      [organizationId, subscription.id, price.plan, status, price.price, period[0], period[1], event.created],
    );
    if (rowCount === 0) {
      log.info({ subscriptionId: subscription.id }, 'subscription event older than the state applied: ignored');
      return;
    }
    const plan = (await currentSubscription(client, organizationId))?.plan ?? 'free';
    const change = await setOrganizationPlan(client, organizationId, plan, {
      source: 'stripe',
      ref: `${event.id} ${subscription.id} ${status}`,
    });
    if (change.changed) {
      log.info(
        { organizationId, plan, previous: change.previous, subscriptionId: subscription.id, status },
        'plan changed',
      );
    }
  }

  /** The plan's included credits, once per paid invoice. */
  private async applyInvoicePaid(client: pg.PoolClient, invoice: Stripe.Invoice, log: Logger): Promise<void> {
    const details = invoice.parent?.subscription_details;
    if (!details || !invoice.id) return; // not a subscription invoice
    const price = (invoice.lines?.data ?? [])
      .map((line) => line.pricing?.price_details?.price)
      .map((p) => (p === undefined ? undefined : this.priceOf(p)))
      .find((p) => p !== undefined);
    if (!price) return;
    const included = planLimits(price.plan).includedMonthlyCredits;
    if (toUnits(included) === 0n) return;
    const organizationId = await this.organizationOf(client, details.metadata?.org_id, invoice.customer);
    if (!organizationId) {
      log.warn({ invoiceId: invoice.id }, 'paid invoice of no organization of ours: ignored');
      return;
    }
    await credit(inTransaction(client), {
      organizationId,
      kind: 'grant',
      key: `stripe:invoice:${invoice.id}`,
      amount: included,
      description: `credits included in the ${price.plan} plan`,
    });
  }

  private async applyRefund(client: pg.PoolClient, refund: Stripe.Refund, log: Logger): Promise<void> {
    if (refund.status !== 'succeeded') return;
    await this.takeBack(client, idOf(refund.payment_intent), refund.amount, `stripe:refund:${refund.id}`, log);
  }

  private async applyDispute(
    client: pg.PoolClient,
    type: 'charge.dispute.created' | 'charge.dispute.closed',
    dispute: Stripe.Dispute,
    log: Logger,
  ): Promise<void> {
    const paymentIntent = idOf(dispute.payment_intent);
    if (type === 'charge.dispute.created') {
      return this.takeBack(client, paymentIntent, dispute.amount, `stripe:dispute:${dispute.id}`, log);
    }
    if (dispute.status !== 'won') return;
    const purchase = await this.purchaseOfPayment(client, paymentIntent);
    const amount = purchase ? proportionalCredits(purchase, dispute.amount) : '0';
    if (!purchase || toUnits(amount) === 0n) return;
    await credit(inTransaction(client), {
      organizationId: purchase.organization_id,
      kind: 'grant',
      key: `stripe:dispute-won:${dispute.id}`,
      amount,
      description: `dispute ${dispute.id} won: credits restored`,
    });
  }

  /** Reverses the share of a purchase's credits that `cents` of its price stand for; what was spent becomes owed. */
  private async takeBack(
    client: pg.PoolClient,
    paymentIntent: string | null,
    cents: number,
    key: string,
    log: Logger,
  ): Promise<void> {
    const purchase = await this.purchaseOfPayment(client, paymentIntent);
    if (!purchase || purchase.status !== 'paid') {
      log.info({ paymentIntent, key }, 'reversal of no credited purchase: nothing to take back');
      return;
    }
    const amount = proportionalCredits(purchase, cents);
    if (toUnits(amount) === 0n) return;
    const movement = await reverseCredit(inTransaction(client), {
      organizationId: purchase.organization_id,
      key,
      amount,
      reference: paymentIntent ?? undefined,
      description: `${key.startsWith('stripe:dispute:') ? 'dispute' : 'refund'} of credit pack ${purchase.pack_id}`,
    });
    if (toUnits(movement.entry.owedChange) > 0n) {
      log.warn({ organizationId: purchase.organization_id, owed: movement.entry.owedChange }, 'reversal left a debt');
    }
  }

  private async purchaseOfPayment(client: pg.PoolClient, paymentIntent: string | null) {
    if (!paymentIntent) return undefined;
    const { rows } = await client.query<PurchaseRow>(
      `SELECT id, organization_id, pack_id, price_cents, currency, credit_amount::text, status
       FROM credit_purchases WHERE payment_intent_id = $1`,
      [paymentIntent],
    );
    return rows[0];
  }

  /** The configured price a Stripe price (object or id) stands for, by id or lookup key. */
  private priceOf(price: string | Stripe.Price): PlanPrice | undefined {
    const id = typeof price === 'string' ? price : price.id;
    // A price without a lookup key must not match a configured price without one (both would be undefined).
    const lookupKey = typeof price === 'string' ? undefined : (price.lookup_key ?? undefined);
    return this.planPrices.find((p) => p.price === id || (lookupKey !== undefined && p.lookupKey === lookupKey));
  }

  /** An organization of ours, named by the metadata we set or found by its Stripe customer. */
  private async organizationOf(
    client: pg.PoolClient,
    fromMetadata: string | undefined,
    customer: string | Stripe.Customer | Stripe.DeletedCustomer | null,
  ): Promise<string | undefined> {
    const { rows } = await client.query<{ id: string }>(
      `SELECT id FROM organizations
       WHERE ($1::text IS NOT NULL AND id::text = $1) OR ($1::text IS NULL AND stripe_customer_id = $2)`,
      [fromMetadata && UUID.test(fromMetadata) ? fromMetadata : null, idOf(customer)],
    );
    return rows[0]?.id;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function idOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === 'string' ? value : value.id;
}

function subscriptionStatusOf(status: string): SubscriptionStatus {
  return (SUBSCRIPTION_STATUSES as readonly string[]).includes(status) ? (status as SubscriptionStatus) : 'incomplete';
}

/** The credits `cents` of the purchase's price bought, rounded down to the unit (a full refund is exact). */
export function proportionalCredits(purchase: { credit_amount: string; price_cents: number }, cents: number): string {
  const share = BigInt(Math.min(Math.max(Math.trunc(cents), 0), purchase.price_cents));
  return formatAmount((toUnits(purchase.credit_amount) * share) / BigInt(purchase.price_cents));
}

export interface SubscriptionSummary {
  stripeSubscriptionId: string;
  plan: Plan;
  status: SubscriptionStatus;
  /** The payment failed and Stripe is retrying: the plan is kept meanwhile (the grace period). */
  pastDue: boolean;
  currentPeriodEnd: Date | null;
}

/** The subscription that gives the organization its plan, if any (the best plan among those that give one). */
export async function currentSubscription(
  db: Queryable,
  organizationId: string,
): Promise<SubscriptionSummary | undefined> {
  const { rows } = await db.query<{
    stripe_subscription_id: string;
    plan: Plan;
    status: SubscriptionStatus;
    current_period_end: Date | null;
  }>(
    `SELECT stripe_subscription_id, plan, status, current_period_end FROM subscriptions
     WHERE organization_id = $1 AND status = ANY($2)
     ORDER BY array_position(ARRAY['enterprise', 'pro', 'starter'], plan) LIMIT 1`,
    [organizationId, PLAN_GIVING_STATUSES],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    stripeSubscriptionId: row.stripe_subscription_id,
    plan: row.plan,
    status: row.status,
    pastDue: row.status === 'past_due',
    currentPeriodEnd: row.current_period_end,
  };
}

/** The billing of a configured process, or undefined when Stripe is not configured. */
export function createStripeBilling(
  settings: StripeSettings | undefined,
  deps: { pool: Db; logger: Logger; maxNetworkRetries?: number },
): StripeBilling | undefined {
  return settings ? new StripeBilling({ ...deps, settings }) : undefined;
}

/** The billing, or the "billing is not configured" error the API turns into 503. */
export function requireBilling(billing: StripeBilling | undefined): StripeBilling {
  if (!billing) throw billingNotConfigured();
  return billing;
}
