import { TRPCError } from '@trpc/server';
import { authedProcedure } from '../../trpc/trpc.js';
import { createOrganization } from '../../../organizations/organizations.js';
import {
  createOrganizationMeta,
  ZCreateOrganizationRequest,
  ZCreateOrganizationResponse,
} from './create-organization.types.js';

export const createOrganizationRoute = authedProcedure
  .meta(createOrganizationMeta)
  .input(ZCreateOrganizationRequest)
  .output(ZCreateOrganizationResponse)
  .mutation(async ({ ctx, input }) => {
    if (ctx.subject.kind !== 'user')
      throw new TRPCError({ code: 'FORBIDDEN', message: 'organizations are created by signed-in users' });
    return createOrganization(ctx.pool, { name: input.name, slug: input.slug, ownerId: ctx.subject.userId });
  });
