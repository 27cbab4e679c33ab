/**
 * What the trend, client and report computations need of one feedback: who gave it, its exact value as WAD, its block
 * time (Unix seconds) and whether it was revoked as of the answer's block. Revoked feedback never counts in means or
 * counts; it is kept so that revocation figures come from the same rows.
 */
import type { FeedbackRow } from './feedback-set.js';

export interface FeedbackPoint {
  client: string;
  wad: bigint;
  time: number;
  revoked: boolean;
}

export function toFeedbackPoint(row: FeedbackRow): FeedbackPoint {
  return { client: row.client, wad: row.wad, time: Date.parse(row.blockTime) / 1000, revoked: row.revoked };
}
