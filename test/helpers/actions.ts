import { randomBytes } from 'node:crypto';
import { SecretBox } from '../../src/secrets.js';
import { RegistrationCache } from '../../src/actions/registration.js';
import { parseAllowList } from '../../src/actions/safe-http.js';
import { TelegramLimiter } from '../../src/actions/telegram.js';
import type { ActionSettings } from '../../src/actions/settings.js';

/** Action settings for tests: a random sealing key, local receivers allowed, Telegram at a stand-in. */
export function testActionSettings(
  overrides: Partial<ActionSettings> & { telegramBaseUrl?: string } = {},
): ActionSettings {
  const { telegramBaseUrl, ...rest } = overrides;
  return {
    secrets: new SecretBox(randomBytes(32)),
    telegram: {
      baseUrl: telegramBaseUrl ?? 'http://127.0.0.1:9',
      defaultBotToken: undefined,
      limiter: new TelegramLimiter({ perChatPerSecond: 1_000, globalPerSecond: 1_000 }),
    },
    allow: parseAllowList('127.0.0.1,localhost,::1'),
    ipfsGateway: 'http://127.0.0.1:9/ipfs/',
    registrations: new RegistrationCache(),
    ...rest,
  };
}
