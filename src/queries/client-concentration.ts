/**
 * Who an agent's feedback comes from: per-client figures and how concentrated the feedback is. Only non-revoked
 * feedback counts (revoked feedback shows in each client's `revoked`). The flags are signals, not verdicts: the
 * contract stops an agent's owner and operators from rating it, not wallets they fund.
 *
 * Shares and HHI are exact ratios of counts rendered with RATIO_DIGITS digits (truncated); the flags compare the exact
 * ratios, never the rendered strings.
 */
import { meanWad } from './exact-decimal.js';
import type { FeedbackPoint } from './feedback-point.js';
import { ratioString } from './ratio.js';

export interface ClientFigures {
  client: string;
  /** Non-revoked feedback from this client. */
  count: number;
  revoked: number;
  /** Block times (Unix seconds) of the client's first and last feedback, revoked or not. */
  first: number;
  last: number;
  /** Truncated mean of its non-revoked feedback as WAD; null when all of it was revoked. */
  meanWad: bigint | null;
}

export const CLIENT_FLAGS = ['LOW_DIVERSITY', 'CONCENTRATED', 'DOMINANT_CLIENT', 'EXCLUSIVE_CLIENTS'] as const;
export type ClientFlag = (typeof CLIENT_FLAGS)[number];

export interface ClientConcentration {
  /** Every client that gave feedback, most feedback first (ties: address order). */
  clients: ClientFigures[];
  /** Feedback counted (N) and clients with at least one counted feedback (K). */
  feedbackCount: number;
  clientCount: number;
  /** Clients with two or more counted feedback. */
  repeatClients: number;
  /** Σ(nᵢ/N)², between 1/K and 1; null when nothing counts. */
  hhi: string | null;
  /** 1/hhi = N²/Σnᵢ². */
  effectiveClients: string | null;
  topClientShare: string | null;
  top5Share: string | null;
  /** Share of the K clients who rated no other agent (as of the same block). */
  exclusiveClientShare: string | null;
  flags: ClientFlag[];
}

/** LOW_DIVERSITY below this many clients. */
export const LOW_DIVERSITY_CLIENTS = 5;
/** CONCENTRATED above this HHI (2023 US merger guidelines' "highly concentrated"), as a fraction: 18/100. */
export const CONCENTRATED_HHI = { numerator: 18n, denominator: 100n } as const;

/**
 * `exclusiveClients`: the clients (of this agent's) who gave no counted feedback to any other agent; the caller
 * finds them in the same as-of feedback set.
 */
export function computeClientConcentration(
  feedback: readonly FeedbackPoint[],
  exclusiveClients: ReadonlySet<string>,
): ClientConcentration {
  const byClient = new Map<string, ClientFigures & { sum: bigint }>();
  for (const f of feedback) {
    let figures = byClient.get(f.client);
    if (!figures) {
      figures = { client: f.client, count: 0, revoked: 0, first: f.time, last: f.time, meanWad: null, sum: 0n };
      byClient.set(f.client, figures);
    }
    figures.first = Math.min(figures.first, f.time);
    figures.last = Math.max(figures.last, f.time);
    if (f.revoked) {
      figures.revoked++;
    } else {
      figures.count++;
      figures.sum += f.wad;
    }
  }
  const clients: ClientFigures[] = [...byClient.values()]
    .map(({ sum, ...figures }) => ({ ...figures, meanWad: figures.count > 0 ? meanWad(sum, figures.count) : null }))
    .sort((a, b) => b.count - a.count || (a.client < b.client ? -1 : a.client > b.client ? 1 : 0));

  const counts = clients.filter((c) => c.count > 0).map((c) => BigInt(c.count));
  const k = BigInt(counts.length);
  const n = counts.reduce((s, c) => s + c, 0n);
  const sumOfSquares = counts.reduce((s, c) => s + c * c, 0n);
  const top = counts[0] ?? 0n;
  const top5 = counts.slice(0, 5).reduce((s, c) => s + c, 0n);
  const exclusive = BigInt(clients.filter((c) => c.count > 0 && exclusiveClients.has(c.client)).length);

  const flags: ClientFlag[] = [];
  if (k < BigInt(LOW_DIVERSITY_CLIENTS)) flags.push('LOW_DIVERSITY');
  if (k >= 3n && sumOfSquares * CONCENTRATED_HHI.denominator > CONCENTRATED_HHI.numerator * n * n) {
    flags.push('CONCENTRATED');
  }
  if (n > 0n && 2n * top > n) flags.push('DOMINANT_CLIENT');
  if (k > 0n && 2n * exclusive > k) flags.push('EXCLUSIVE_CLIENTS');

  const some = n > 0n;
  return {
    clients,
    feedbackCount: Number(n),
    clientCount: Number(k),
    repeatClients: counts.filter((c) => c >= 2n).length,
    hhi: some ? ratioString(sumOfSquares, n * n) : null,
    effectiveClients: some ? ratioString(n * n, sumOfSquares) : null,
    topClientShare: some ? ratioString(top, n) : null,
    top5Share: some ? ratioString(top5, n) : null,
    exclusiveClientShare: some ? ratioString(exclusive, k) : null,
    flags,
  };
}
