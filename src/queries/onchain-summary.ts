/**
 * ReputationRegistry.getSummary (ERC-8004 v1.0), ported to BigInt step for step, so that our summary can state what
 * the contract answers for the same clients and tags at the same block — and a test can prove it (the parity test).
 *
 * The contract: for each address of `clientAddresses` in turn (duplicates counted again), each of its feedback in index
 * order that is not revoked and matches the tags (an empty tag matches any; otherwise the exact string), adds
 * value·10^(18−valueDecimals) to a signed sum and counts it. With nothing counted it returns (0, 0, 0). Otherwise the
 * average avgWad = sum / count (truncated toward zero) is rescaled to the most frequent valueDecimals — the smallest
 * such on a tie — by another truncating division, and narrowed to int128.
 */
import { toInt128, toWad } from './exact-decimal.js';
import { groupBy } from './grouping.js';

export interface ContractFeedback {
  client: string;
  value: string;
  valueDecimals: number;
  tag1: string;
  tag2: string;
  revoked: boolean;
}

export interface ContractSummary {
  count: number;
  summaryValue: bigint;
  summaryValueDecimals: number;
}

/** getSummary(agentId, clientAddresses, tag1, tag2) over one registry's feedback of the agent. */
export function contractGetSummary(
  feedback: readonly ContractFeedback[],
  clientAddresses: readonly string[],
  tag1: string,
  tag2: string,
): ContractSummary {
  const byClient = groupBy(feedback, (fb) => fb.client.toLowerCase());
  let sum = 0n;
  let count = 0;
  const decimalCounts = new Array<number>(19).fill(0);
  for (const client of clientAddresses) {
    for (const fb of byClient.get(client.toLowerCase()) ?? []) {
      if (fb.revoked) continue;
      if (tag1 !== '' && fb.tag1 !== tag1) continue;
      if (tag2 !== '' && fb.tag2 !== tag2) continue;
      sum += toWad(fb.value, fb.valueDecimals);
      decimalCounts[fb.valueDecimals]!++;
      count++;
    }
  }
  if (count === 0) return { count: 0, summaryValue: 0n, summaryValueDecimals: 0 };
  let modeDecimals = 0;
  let maxCount = 0;
  for (let d = 0; d <= 18; d++) {
    if (decimalCounts[d]! > maxCount) {
      maxCount = decimalCounts[d]!;
      modeDecimals = d;
    }
  }
  const avgWad = sum / BigInt(count);
  const summaryValue = toInt128(avgWad / 10n ** BigInt(18 - modeDecimals));
  return { count, summaryValue, summaryValueDecimals: modeDecimals };
}
