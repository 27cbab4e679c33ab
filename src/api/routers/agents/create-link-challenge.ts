import type { z } from 'zod';
import { orgProcedure } from '../../trpc/trpc.js';
import { jsonBigInt } from '../../../agents/links.js';
import {
  createLinkChallengeMeta,
  ZCreateLinkChallengeRequest,
  ZCreateLinkChallengeResponse,
} from './create-link-challenge.types.js';

export const createLinkChallengeRoute = orgProcedure('admin')
  .meta(createLinkChallengeMeta)
  .input(ZCreateLinkChallengeRequest)
  .output(ZCreateLinkChallengeResponse)
  .mutation(({ ctx, input }) => {
    const { challenge, message, typedData } = ctx.agents.links.createChallenge({
      organizationId: input.organizationId,
      chainId: input.chainId,
      agentId: input.agentId,
    });
    return {
      nonce: challenge.nonce,
      issuedAt: challenge.issuedAt.toISOString(),
      expiresAt: challenge.expiresAt.toISOString(),
      identityRegistry: challenge.identityRegistry,
      message,
      typedData: JSON.parse(JSON.stringify(typedData, jsonBigInt)) as z.infer<
        typeof ZCreateLinkChallengeResponse
      >['typedData'],
    };
  });
