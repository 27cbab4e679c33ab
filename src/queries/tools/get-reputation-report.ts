/**
 * getReputationReport (tier 3): everything the other tools say about an agent as of one block — profile, summary,
 * 12-month and 30-day trends, clients, validations, baseline, response and revocation rates — plus signals with stable
 * codes and a confidence level (src/queries/report-signals.ts). No model and no clock: the same inputs give the same
 * bytes, and `inputsHash` (SHA-256 of the canonical JSON of the question and the block it is as of) names them.
 */
import { z } from 'zod';
import { asOfBlockTime } from '../block-time.js';
import { canonicalHash } from '../canonical-json.js';
import { abiVersionParam } from '../feedback-params.js';
import { toFeedbackPoint } from '../feedback-point.js';
import { feedbackAsOf } from '../feedback-set.js';
import { ratioString, RATIO_DIGITS } from '../ratio.js';
import { confidenceOf, recentDecline, reportSignals, SIGNAL_CODES } from '../report-signals.js';
import { SEMANTICS_VERSION, defineQueryTool, type QueryContext } from '../tool.js';
import { computeTrend, lastBuckets } from '../trend.js';
import { validationsAsOf } from '../validation-set.js';
import { agentProfileAsOf, getAgentProfile } from './get-agent-profile.js';
import { analyseClients, clientAnalysisAnswer, clientAnalysisData } from './get-client-analysis.js';
import { baselineData, computeBaseline, DEFAULT_MIN_FEEDBACK } from './compare-to-baseline.js';
import { getReputationSummary } from './get-reputation-summary.js';
import { trendAnswer, trendData } from './get-trend.js';
import { getValidationHistory } from './get-validation-history.js';

/** Bumped whenever the report's shape or rules change (also covered by SEMANTICS_VERSION in every answer). */
export const REPORT_VERSION = '1';
/** Clients listed in the report (its figures cover all). */
export const REPORT_CLIENTS_LISTED = 10;

const params = z.object({ abiVersion: abiVersionParam });

const ratio = z.string().describe(`exact ratio, ${RATIO_DIGITS} decimals, truncated`);

const data = z.object({
  reportVersion: z.string(),
  inputsHash: z.string().describe('SHA-256 (hex) of the canonical JSON of the question and the block it is as of.'),
  confidence: z.enum(['low', 'medium', 'high']).describe('From unique clients: under 5 low, under 20 medium.'),
  signals: z
    .array(z.object({ code: z.enum(SIGNAL_CODES), figures: z.record(z.string(), z.union([z.number(), z.string()])) }))
    .describe('Raised signals in a fixed order, each with the figures that raised it.'),
  profile: getAgentProfile.data,
  summary: getReputationSummary.data,
  trend12Months: trendData,
  trend30Days: trendData,
  clients: clientAnalysisData,
  validations: getValidationHistory.data.shape.summary,
  baseline: baselineData,
  rates: z.object({
    /** Counted feedback with at least one response / counted feedback. */
    responseRate: ratio.nullable(),
    /** Revoked feedback / all feedback. */
    revocationRate: ratio.nullable(),
  }),
});

const PARTS = 7;

/** The hash of what a report answers: the question (tool, chain, agent, parameters) and the block it is as of. */
export function reportInputsHash(ctx: Pick<QueryContext, 'asOf' | 'agentId'>, p: z.output<typeof params>): string {
  return canonicalHash({
    tool: 'getReputationReport',
    reportVersion: REPORT_VERSION,
    semanticsVersion: SEMANTICS_VERSION,
    agentId: ctx.agentId,
    params: p,
    asOf: ctx.asOf,
  });
}

export const getReputationReport = defineQueryTool({
  name: 'getReputationReport',
  tier: 3,
  title: 'Reputation report',
  description:
    'Everything about an agent as of one block — profile, summary, 12-month and 30-day trends, clients, ' +
    'validations, baseline, rates — with signals (stable codes) and a confidence level. Deterministic: the same ' +
    'inputs give the same bytes.',
  params,
  data,
  async run(ctx, p) {
    let done = 0;
    const step = async <T>(message: string, part: Promise<T>): Promise<T> => {
      const value = await part;
      ctx.progress?.({ done: ++done, total: PARTS, message });
      return value;
    };
    const scope = { abiVersions: [p.abiVersion] };
    const [rows, asOfTime] = await step(
      'feedback',
      Promise.all([feedbackAsOf(ctx.db, ctx.asOf, ctx.agentId, scope), asOfBlockTime(ctx.db, ctx.asOf)]),
    );
    const points = rows.map(toFeedbackPoint);
    const [profile, summary, validationRows, validationHistory, clients, baseline] = await Promise.all([
      step('profile', agentProfileAsOf(ctx.db, ctx.asOf, ctx.agentId)),
      step('summary', getReputationSummary.run(ctx, getReputationSummary.params.parse({ abiVersion: p.abiVersion }))),
      validationsAsOf(ctx.db, ctx.asOf, ctx.agentId),
      step('validations', getValidationHistory.run(ctx, getValidationHistory.params.parse({ limit: 1 }))),
      step('clients', analyseClients(ctx, rows)),
      step('baseline', computeBaseline(ctx, { metric: 'mean', minFeedback: DEFAULT_MIN_FEEDBACK, filter: scope })),
    ]);
    const trend12Months = computeTrend(points, 'month', asOfTime, lastBuckets(asOfTime, 'month', 12));
    const trend30Days = computeTrend(points, 'day', asOfTime, lastBuckets(asOfTime, 'day', 30));
    const counted = rows.filter((r) => !r.revoked);
    const revoked = rows.length - counted.length;
    const { concentration } = clients;
    const signals = reportSignals({
      feedbackCount: counted.length,
      revokedCount: revoked,
      decline: recentDecline(points, asOfTime),
      validationRequests: validationRows.length,
      failedValidations: validationRows.filter((v) => v.response !== null && v.response < 50).length,
      clientFlags: concentration.flags,
      hhi: concentration.hhi,
      topClientShare: concentration.topClientShare,
      exclusiveClientShare: concentration.exclusiveClientShare,
      clientCount: concentration.clientCount,
    });
    ctx.progress?.({ done: ++done, total: PARTS, message: 'signals' });
    return {
      reportVersion: REPORT_VERSION,
      inputsHash: reportInputsHash(ctx, p),
      confidence: confidenceOf(concentration.clientCount),
      signals,
      profile,
      summary,
      trend12Months: trendAnswer(trend12Months),
      trend30Days: trendAnswer(trend30Days),
      clients: clientAnalysisAnswer(clients, REPORT_CLIENTS_LISTED),
      validations: validationHistory.summary,
      baseline,
      rates: {
        responseRate:
          counted.length > 0
            ? ratioString(BigInt(counted.filter((r) => r.responses > 0).length), BigInt(counted.length))
            : null,
        revocationRate: rows.length > 0 ? ratioString(BigInt(revoked), BigInt(rows.length)) : null,
      },
    };
  },
});
