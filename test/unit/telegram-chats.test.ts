import { describe, expect, it } from 'vitest';
import { linkCodeInMessage } from '../../src/actions/telegram-chats.js';

describe('linkCodeInMessage', () => {
  const code = 'org_AbCdEfGhIjKlMnOpQr-_';

  it('finds the code after /start (also /start@bot), or alone', () => {
    expect(linkCodeInMessage(`/start ${code}`)).toBe(code);
    expect(linkCodeInMessage(`/start@erc8004_bot ${code}`)).toBe(code);
    expect(linkCodeInMessage(`  ${code}\n`)).toBe(code);
  });

  it('ignores other messages, malformed codes and non-text', () => {
    for (const text of [
      '/start',
      'hello',
      `/start ${code} extra`,
      `/help ${code}`,
      'org_short',
      `x${code}`,
      `${code}x`,
      undefined,
      42,
    ]) {
      expect(linkCodeInMessage(text)).toBeUndefined();
    }
  });
});
