import { router } from '../../trpc/trpc.js';
import { createChatCodeRoute, listVerifiedChatsRoute } from './chat-verification.js';

export const telegramRouter = router({ createChatCode: createChatCodeRoute, chats: listVerifiedChatsRoute });
