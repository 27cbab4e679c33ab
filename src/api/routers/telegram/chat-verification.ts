import { orgProcedure } from '../../trpc/trpc.js';
import { createChatLinkCode, listVerifiedChats } from '../../../actions/telegram-chats.js';
import {
  createChatCodeMeta,
  listVerifiedChatsMeta,
  ZCreateChatCodeRequest,
  ZCreateChatCodeResponse,
  ZListVerifiedChatsRequest,
  ZListVerifiedChatsResponse,
} from './chat-verification.types.js';

// Whoever may create actions may verify a chat for them.
export const createChatCodeRoute = orgProcedure('write')
  .meta(createChatCodeMeta)
  .input(ZCreateChatCodeRequest)
  .output(ZCreateChatCodeResponse)
  .mutation(async ({ ctx, input }) => {
    const { code, expiresAt } = await createChatLinkCode(
      ctx.pool,
      input.organizationId,
      await ctx.actingUserOf(input.organizationId),
    );
    return { code, message: `/start ${code}`, expiresAt: expiresAt.toISOString() };
  });

export const listVerifiedChatsRoute = orgProcedure('read')
  .meta(listVerifiedChatsMeta)
  .input(ZListVerifiedChatsRequest)
  .output(ZListVerifiedChatsResponse)
  .query(async ({ ctx, input }) => ({
    items: (await listVerifiedChats(ctx.pool, input.organizationId)).map((c) => ({
      chatId: c.chatId,
      title: c.title,
      verifiedAt: c.verifiedAt.toISOString(),
    })),
  }));
