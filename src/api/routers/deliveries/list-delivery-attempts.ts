import { orgProcedure } from '../../trpc/trpc.js';
import { deliveryAttempts } from '../../../deliveries/service.js';
import {
  listDeliveryAttemptsMeta,
  ZListDeliveryAttemptsRequest,
  ZListDeliveryAttemptsResponse,
} from './list-delivery-attempts.types.js';

export const listDeliveryAttemptsRoute = orgProcedure('read')
  .meta(listDeliveryAttemptsMeta)
  .input(ZListDeliveryAttemptsRequest)
  .output(ZListDeliveryAttemptsResponse)
  .query(async ({ ctx, input }) => ({
    items: (await deliveryAttempts(ctx.pool, input.organizationId, input.idempotencyKey)).map((r) => ({
      attempt: r.attempt,
      status: r.status,
      httpStatus: r.http_status,
      durationMs: r.duration_ms,
      error: r.error_message,
      response: r.response_data,
      executedAt: r.executed_at.toISOString(),
    })),
  }));
