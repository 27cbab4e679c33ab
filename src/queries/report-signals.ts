/**
 * The reputation report's signals and confidence: fixed rules over exact figures (no model, no float), so the same
 * figures always give the same signals in the same order. Codes are stable: clients may switch on them.
 */
import type { ClientFlag } from './client-concentration.js';
import { formatWad, meanWad } from './exact-decimal.js';
import type { FeedbackPoint } from './feedback-point.js';
import { ratioString } from './ratio.js';

export const SIGNAL_CODES = [
  'LOW_SAMPLE',
  'RECENT_DECLINE',
  'HIGH_REVOCATION',
  'NO_VALIDATIONS',
  'FAILED_VALIDATIONS',
  'LOW_DIVERSITY',
  'CONCENTRATED',
  'DOMINANT_CLIENT',
  'EXCLUSIVE_CLIENTS',
] as const;
export type SignalCode = (typeof SIGNAL_CODES)[number];

/** A signal and the figures that raised it (counts as numbers, exact decimals as strings). */
export interface Signal {
  code: SignalCode;
  figures: Record<string, number | string>;
}

export type Confidence = 'low' | 'medium' | 'high';

/** LOW_SAMPLE below this many counted feedback. */
export const LOW_SAMPLE_FEEDBACK = 10;
/** RECENT_DECLINE compares the last 30 days with the 90 days before, each needing at least this many feedback. */
export const DECLINE_MIN_POINTS = 5;
export const RECENT_DAYS = 30;
export const PRIOR_DAYS = 90;
/** HIGH_REVOCATION above this share of all feedback: 1/10. */
export const HIGH_REVOCATION_DENOMINATOR = 10n;

/** Confidence from the number of distinct clients: fewer than 5 low, fewer than 20 medium. */
export function confidenceOf(uniqueClients: number): Confidence {
  return uniqueClients < 5 ? 'low' : uniqueClients < 20 ? 'medium' : 'high';
}

export interface RecentDecline {
  recentCount: number;
  priorCount: number;
  /** Each window's truncated mean as WAD; null when it is empty. */
  recentMeanWad: bigint | null;
  priorMeanWad: bigint | null;
  declined: boolean;
}

/**
 * Whether the last RECENT_DAYS' mean is below the PRIOR_DAYS before it by more than one (population) standard
 * deviation of those prior values, with DECLINE_MIN_POINTS in each window. Decided exactly: with S, Q the prior sum and
 * sum of squares over p values and R the recent sum over r values, mean_p − mean_r > σ_p ⇔
 * S·r − R·p > 0 and (S·r − R·p)² > (p·Q − S²)·r².
 */
export function recentDecline(feedback: readonly FeedbackPoint[], asOfTime: number): RecentDecline {
  const recentFrom = asOfTime - RECENT_DAYS * 86_400;
  const priorFrom = recentFrom - PRIOR_DAYS * 86_400;
  let p = 0n;
  let s = 0n;
  let q = 0n;
  let r = 0n;
  let recentSum = 0n;
  for (const f of feedback) {
    if (f.revoked || f.time > asOfTime) continue;
    if (f.time >= recentFrom) {
      r++;
      recentSum += f.wad;
    } else if (f.time >= priorFrom) {
      p++;
      s += f.wad;
      q += f.wad * f.wad;
    }
  }
  const gap = s * r - recentSum * p;
  const enough = p >= BigInt(DECLINE_MIN_POINTS) && r >= BigInt(DECLINE_MIN_POINTS);
  return {
    recentCount: Number(r),
    priorCount: Number(p),
    recentMeanWad: r > 0n ? meanWad(recentSum, r) : null,
    priorMeanWad: p > 0n ? meanWad(s, p) : null,
    declined: enough && gap > 0n && gap * gap > (p * q - s * s) * r * r,
  };
}

export interface SignalInputs {
  /** Counted (non-revoked) feedback, revoked feedback and distinct clients. */
  feedbackCount: number;
  revokedCount: number;
  decline: RecentDecline;
  /** Validation requests, and those whose latest response is a fail (below 50). */
  validationRequests: number;
  failedValidations: number;
  clientFlags: readonly ClientFlag[];
  hhi: string | null;
  topClientShare: string | null;
  exclusiveClientShare: string | null;
  clientCount: number;
}

/** The signals raised, in SIGNAL_CODES order. */
export function reportSignals(inputs: SignalInputs): Signal[] {
  const raised = new Map<SignalCode, Signal['figures']>();
  if (inputs.feedbackCount < LOW_SAMPLE_FEEDBACK) {
    raised.set('LOW_SAMPLE', { feedbackCount: inputs.feedbackCount, threshold: LOW_SAMPLE_FEEDBACK });
  }
  if (inputs.decline.declined) {
    raised.set('RECENT_DECLINE', {
      recentCount: inputs.decline.recentCount,
      priorCount: inputs.decline.priorCount,
      recentMean: formatWad(inputs.decline.recentMeanWad!),
      priorMean: formatWad(inputs.decline.priorMeanWad!),
    });
  }
  const total = BigInt(inputs.feedbackCount + inputs.revokedCount);
  if (total > 0n && HIGH_REVOCATION_DENOMINATOR * BigInt(inputs.revokedCount) > total) {
    raised.set('HIGH_REVOCATION', {
      revokedCount: inputs.revokedCount,
      revocationRate: ratioString(BigInt(inputs.revokedCount), total),
    });
  }
  if (inputs.validationRequests === 0) raised.set('NO_VALIDATIONS', { validationRequests: 0 });
  if (inputs.failedValidations > 0) {
    raised.set('FAILED_VALIDATIONS', {
      failedValidations: inputs.failedValidations,
      validationRequests: inputs.validationRequests,
    });
  }
  const clientFigures: Record<ClientFlag, Signal['figures']> = {
    LOW_DIVERSITY: { clientCount: inputs.clientCount },
    CONCENTRATED: { hhi: inputs.hhi ?? '0', clientCount: inputs.clientCount },
    DOMINANT_CLIENT: { topClientShare: inputs.topClientShare ?? '0' },
    EXCLUSIVE_CLIENTS: { exclusiveClientShare: inputs.exclusiveClientShare ?? '0' },
  };
  for (const flag of inputs.clientFlags) raised.set(flag, clientFigures[flag]);
  return SIGNAL_CODES.filter((code) => raised.has(code)).map((code) => ({ code, figures: raised.get(code)! }));
}
