/** Shared shapes of the billing procedures: amounts are USDC decimal strings with 8 decimals, never numbers. */
import { z } from 'zod';
import type { Hold, LedgerEntry } from '../../../billing/ledger.js';
import { ENTRY_KINDS } from '../../../billing/ledger.js';

export const amount = z.string().describe('USDC, a decimal string with 8 decimals (e.g. "25.00000000")');
const signedAmount = z.string().describe('USDC, a signed decimal string with 8 decimals');

export const holdOutput = z.object({
  id: z.string(),
  amount,
  description: z.string().nullable(),
  expiresAt: z.string(),
  createdAt: z.string(),
});

export const holdToOutput = (h: Hold): z.infer<typeof holdOutput> => ({
  id: h.id,
  amount: h.amount,
  description: h.description,
  expiresAt: h.expiresAt.toISOString(),
  createdAt: h.createdAt.toISOString(),
});

export const entryOutput = z.object({
  id: z.string(),
  seq: z.string(),
  kind: z.enum(ENTRY_KINDS),
  amount: signedAmount,
  balanceChange: signedAmount,
  owedChange: signedAmount,
  balanceAfter: amount,
  key: z.string().nullable(),
  holdId: z.string().nullable(),
  description: z.string().nullable(),
  reference: z.string().nullable(),
  createdAt: z.string(),
});

export const entryToOutput = (e: LedgerEntry): z.infer<typeof entryOutput> => ({
  ...e,
  createdAt: e.createdAt.toISOString(),
});
