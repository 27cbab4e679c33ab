/**
 * What a call of each tier costs, in USDC. Prices have at most 6 decimals, USDC's own precision, so that an x402
 * payment of the price is an exact number of the token's atomic units. QUERY_PRICES overrides tiers:
 * `{"0":"0.002","3":"0.25"}`; what it leaves out keeps its default (src/queries/tool.ts TIER_DEFAULTS).
 */
import { z } from 'zod';
import { jsonSetting } from '../json-setting.js';
import { isAmount } from '../billing/amount.js';
import { TIER_DEFAULTS, type Tier } from './tool.js';

export type TierPrices = Record<Tier, string>;

export const DEFAULT_TIER_PRICES: TierPrices = {
  0: TIER_DEFAULTS[0].price,
  1: TIER_DEFAULTS[1].price,
  2: TIER_DEFAULTS[2].price,
  3: TIER_DEFAULTS[3].price,
};

const price = z
  .string({ message: 'a price is a decimal string such as "0.01"' })
  .refine((v) => isAmount(v) && !/\.\d{7,}$/.test(v), {
    message: 'a price is a decimal string above zero with at most 6 decimals (USDC), such as "0.01"',
  });

export const tierPricesSchema = jsonSetting('must be a JSON object of tiers, such as {"0":"0.001","3":"0.2"}')
  .pipe(
    z.strictObject(
      { 0: price.optional(), 1: price.optional(), 2: price.optional(), 3: price.optional() },
      {
        error: (issue) =>
          issue.code === 'unrecognized_keys'
            ? `unknown tier ${(issue.keys ?? []).map((k) => JSON.stringify(k)).join(', ')} (tiers: "0", "1", "2", "3")`
            : 'must be a JSON object of tiers, such as {"0":"0.001","3":"0.2"}',
      },
    ),
  )
  .transform((overrides): TierPrices => ({
    0: overrides[0] ?? DEFAULT_TIER_PRICES[0],
    1: overrides[1] ?? DEFAULT_TIER_PRICES[1],
    2: overrides[2] ?? DEFAULT_TIER_PRICES[2],
    3: overrides[3] ?? DEFAULT_TIER_PRICES[3],
  }));
