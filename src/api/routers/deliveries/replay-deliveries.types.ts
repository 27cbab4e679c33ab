import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { exactlyOneOf } from '../../trpc/openapi.js';

export const replayDeliveriesMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/deliveries/replay',
    tags: ['Deliveries'],
    summary: 'Replay dead letters: one, or all of a trigger (optionally since a time)',
    protect: true,
  },
};
export const ZReplayDeliveriesRequest = exactlyOneOf(
  z.object({
    idempotencyKey: z.string().min(1).max(300).optional(),
    triggerId: z.uuid().optional(),
    since: z.iso.datetime({ offset: true }).optional(),
  }),
  ['idempotencyKey', 'triggerId'],
);
export const ZReplayDeliveriesResponse = z.object({ replayed: z.array(z.string()) });
