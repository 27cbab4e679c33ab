/** What action delivery needs from the configuration: the sealing key, Telegram, the SSRF allow-list, the IPFS gateway. */
import path from 'node:path';
import type { Config } from '../config.js';
import { ConfigError } from '../config.js';
import { SecretBox, loadOrCreateAppKey, parseAppKey } from '../secrets.js';
import { RegistrationCache } from './registration.js';
import { parseAllowList, type AllowList } from './safe-http.js';
import { TelegramLimiter } from './telegram.js';

export interface ActionSettings {
  secrets: SecretBox;
  /** The application key itself (other per-purpose secrets are derived from it). */
  appKey?: Buffer;
  telegram: { baseUrl: string; defaultBotToken: string | undefined; limiter: TelegramLimiter };
  allow: AllowList;
  ipfsGateway: string;
  registrations: RegistrationCache;
}

export async function actionSettings(config: Config): Promise<ActionSettings> {
  let key: Buffer;
  if (config.actions.appEncryptionKey) {
    try {
      key = parseAppKey(config.actions.appEncryptionKey);
    } catch (err) {
      throw new ConfigError([`APP_ENCRYPTION_KEY: ${(err as Error).message}`]);
    }
  } else if (config.nodeEnv === 'production') {
    throw new ConfigError(['APP_ENCRYPTION_KEY: required in production (32 bytes, base64 or hex)']);
  } else {
    key = await loadOrCreateAppKey(path.resolve(config.dataDir));
  }
  return {
    secrets: new SecretBox(key),
    appKey: key,
    telegram: {
      baseUrl: config.actions.telegramBaseUrl,
      defaultBotToken: config.actions.telegramBotToken,
      limiter: new TelegramLimiter(),
    },
    allow: parseAllowList(config.actions.allowedHosts),
    ipfsGateway: config.actions.ipfsGateway,
    registrations: new RegistrationCache(),
  };
}
