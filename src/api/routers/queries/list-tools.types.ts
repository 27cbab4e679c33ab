import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const listToolsMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/queries/tools',
    tags: ['Queries'],
    summary: 'The paid query tools: what each answers, its tier, price and cache lifetime, and its REST path',
  },
};

export const ZListToolsRequest = z.object({}).optional();
export const ZListToolsResponse = z.object({
  currency: z.literal('USDC'),
  tools: z.array(
    z.object({
      name: z.string(),
      title: z.string(),
      description: z.string(),
      tier: z.number(),
      price: z.string(),
      cacheTtlSeconds: z.number(),
      path: z.string().describe('GET /api/v1/agents/{chainId}/{agentId}/<path>'),
    }),
  ),
});
