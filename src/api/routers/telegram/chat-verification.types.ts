import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const createChatCodeMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/telegram/chat-codes',
    tags: ['Telegram'],
    protect: true,
    summary:
      'A one-time code that verifies a Telegram chat for the organization: send "/start <code>" to the platform bot from the chat',
  },
};
export const listVerifiedChatsMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/telegram/chats',
    tags: ['Telegram'],
    summary: "The chats the platform's bot may post to for the organization",
    protect: true,
  },
};
export const ZCreateChatCodeRequest = z.looseObject({});
export const ZCreateChatCodeResponse = z.object({
  code: z.string(),
  /** What to send the bot from the chat. */
  message: z.string(),
  expiresAt: z.string(),
});
export const ZListVerifiedChatsRequest = z.looseObject({});
export const ZListVerifiedChatsResponse = z.object({
  items: z.array(z.object({ chatId: z.string(), title: z.string().nullable(), verifiedAt: z.string() })),
});
