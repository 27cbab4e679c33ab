/**
 * The secrets inside action configs (a Telegram bot token, a webhook's secret headers): sealed when a trigger is
 * saved, bound to the organization and the field they belong to, opened when a delivery is sent.
 */
import { DefinitionError } from '../triggers/definition.js';
import { organizationSecret, SecretBox, type SecretBinding } from '../secrets.js';
import type { ActionConfig, RestConfig, TelegramConfig } from './config.js';

/** What a stored secret reads as through the API: it can be replaced, never read back. */
export const REDACTED_SECRET = '[secret]';

/** The binding of a secret of an organization's action config, e.g. field `bot_token` or `secret_headers.authorization`. */
export function actionSecretBinding(organizationId: string, field: string): SecretBinding {
  return organizationSecret(organizationId, `trigger_actions.config.${field}`);
}

/** The secret fields of a config, by their path in it; `update` replaces their values (and returns the new config). */
function mapSecrets(
  type: string,
  config: ActionConfig,
  update: (field: string, value: string) => string,
): ActionConfig {
  if (type === 'telegram') {
    const telegram = config as TelegramConfig;
    return telegram.bot_token ? { ...telegram, bot_token: update('bot_token', telegram.bot_token) } : config;
  }
  if (type === 'rest') {
    const rest = config as RestConfig;
    if (!rest.secret_headers) return config;
    return {
      ...rest,
      secret_headers: Object.fromEntries(
        Object.entries(rest.secret_headers).map(([name, v]) => [name, update(`secret_headers.${name}`, v)]),
      ),
    };
  }
  return config;
}

/**
 * Seals the secrets of an action config (as written by the user) for `organizationId`. A value that already looks
 * sealed is refused: a sealed value copied from elsewhere must never be stored as if it were this organization's.
 * `path` prefixes the issues (e.g. `actions.0.config`).
 */
export function sealActionSecrets(
  type: string,
  config: ActionConfig,
  box: SecretBox | undefined,
  organizationId: string,
  path: string,
): ActionConfig {
  const issues: { path: string; message: string }[] = [];
  const sealed = mapSecrets(type, config, (field, value) => {
    if (SecretBox.isSealed(value)) {
      issues.push({
        path: `${path}.${field}`,
        message: "looks like a sealed value ('v1:…'/'v2:…'): send the secret itself; it is sealed when stored",
      });
      return value;
    }
    if (value === REDACTED_SECRET) {
      // A config read back from the API and saved as it is would otherwise store the placeholder as the secret.
      issues.push({
        path: `${path}.${field}`,
        message: `'${REDACTED_SECRET}' is how a stored secret reads back: send the secret itself again`,
      });
      return value;
    }
    if (!box) {
      issues.push({ path: `${path}.${field}`, message: 'secrets need the application key (APP_ENCRYPTION_KEY)' });
      return value;
    }
    return box.encrypt(value, actionSecretBinding(organizationId, field));
  });
  if (issues.length > 0) throw new DefinitionError(issues);
  return sealed;
}

/**
 * Opens the secrets of a stored action config of `organizationId`. Throws SecretDecryptionError when one does not
 * open: sealed for another organization or field, with another key, or tampered with.
 */
export function openActionSecrets(
  type: string,
  config: ActionConfig,
  box: SecretBox,
  organizationId: string,
): ActionConfig {
  return mapSecrets(type, config, (field, value) => box.decrypt(value, actionSecretBinding(organizationId, field)));
}
