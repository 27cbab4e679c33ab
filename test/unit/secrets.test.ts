import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { actionSecretBinding, REDACTED_SECRET, sealActionSecrets } from '../../src/actions/action-secrets.js';
import type { ActionConfig } from '../../src/actions/config.js';
import { DefinitionError } from '../../src/triggers/definition.js';
import {
  APP_KEY_FILE,
  SecretBox,
  SecretDecryptionError,
  keyId,
  loadOrCreateAppKey,
  organizationSecret,
  parseAppKey,
} from '../../src/secrets.js';

const key = randomBytes(32);
const otherKey = randomBytes(32);
/** Every value is sealed for an owner and a field. */
const BOT_TOKEN_OF_A = organizationSecret('6f1c1a52-0000-4000-8000-00000000000a', 'trigger_actions.config.bot_token');

/** Flips one bit of the decoded payload at `index` (0–11 IV, 12–27 tag, 28+ ciphertext). */
function flipByte(sealed: string, index: number): string {
  const parts = sealed.split(':');
  const data = Buffer.from(parts.at(-1)!, 'base64');
  data[index] = data[index]! ^ 0x01;
  parts[parts.length - 1] = data.toString('base64');
  return parts.join(':');
}

describe('SecretBox', () => {
  it('round-trips strings, including empty and non-ASCII ones', () => {
    const box = new SecretBox(key);
    for (const plain of ['123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11', '', 'ünïcødé ✓ 🔑', 'x'.repeat(10_000)]) {
      expect(box.decrypt(box.encrypt(plain, BOT_TOKEN_OF_A), BOT_TOKEN_OF_A)).toBe(plain);
    }
  });

  it("writes 'v2:<kid>:<base64(iv|tag|ciphertext)>'", () => {
    const box = new SecretBox(key);
    const sealed = box.encrypt('hello', BOT_TOKEN_OF_A);
    const match = /^v2:([0-9a-f]{8}):([A-Za-z0-9+/]+={0,2})$/.exec(sealed);
    expect(match).not.toBeNull();
    expect(match![1]).toBe(keyId(key));
    expect(box.keyId).toBe(keyId(key));
    expect(Buffer.from(match![2]!, 'base64').length).toBe(12 + 16 + Buffer.byteLength('hello'));
    expect(sealed).not.toContain('hello');
  });

  it('uses a random IV: sealing the same value twice gives different results', () => {
    const box = new SecretBox(key);
    const a = box.encrypt('same secret', BOT_TOKEN_OF_A);
    const b = box.encrypt('same secret', BOT_TOKEN_OF_A);
    expect(a).not.toBe(b);
    expect(Buffer.from(a.split(':')[2]!, 'base64').subarray(0, 12)).not.toEqual(
      Buffer.from(b.split(':')[2]!, 'base64').subarray(0, 12),
    );
    expect(box.decrypt(a, BOT_TOKEN_OF_A)).toBe(box.decrypt(b, BOT_TOKEN_OF_A));
  });

  it('detects tampering in the IV, the tag and the ciphertext', () => {
    const box = new SecretBox(key);
    const sealed = box.encrypt('do not touch', BOT_TOKEN_OF_A);
    for (const index of [0, 11, 12, 27, 28, 28 + 11]) {
      expect(() => box.decrypt(flipByte(sealed, index), BOT_TOKEN_OF_A)).toThrow(SecretDecryptionError);
      expect(() => box.decrypt(flipByte(sealed, index), BOT_TOKEN_OF_A)).toThrow(/tampered|corrupted/);
    }
    // Cutting the ciphertext short, too.
    const [, kid, payload] = sealed.split(':');
    const short = Buffer.from(payload!, 'base64').subarray(0, 30).toString('base64');
    expect(() => box.decrypt(`v2:${kid}:${short}`, BOT_TOKEN_OF_A)).toThrow(SecretDecryptionError);
  });

  it('refuses a value sealed with another key, saying which key it needs', () => {
    const sealed = new SecretBox(otherKey).encrypt('secret', BOT_TOKEN_OF_A);
    expect(() => new SecretBox(key).decrypt(sealed, BOT_TOKEN_OF_A)).toThrow(SecretDecryptionError);
    expect(() => new SecretBox(key).decrypt(sealed, BOT_TOKEN_OF_A)).toThrow(
      new RegExp(`key ${keyId(otherKey)}.*neither the current`),
    );
  });

  it('refuses a value sealed with another key even when the kid is forged to match', () => {
    const sealed = new SecretBox(otherKey).encrypt('secret', BOT_TOKEN_OF_A);
    const forged = sealed.replace(/^v2:[0-9a-f]{8}:/, `v2:${keyId(key)}:`);
    expect(() => new SecretBox(key).decrypt(forged, BOT_TOKEN_OF_A)).toThrow(/tampered|corrupted/);
  });

  it('decrypts values sealed with a previous key and always encrypts with the current one', () => {
    const oldBox = new SecretBox(otherKey);
    const sealedOld = oldBox.encrypt('old secret', BOT_TOKEN_OF_A);
    const rotated = new SecretBox(key, [otherKey]);
    expect(rotated.decrypt(sealedOld, BOT_TOKEN_OF_A)).toBe('old secret');
    const sealedNew = rotated.encrypt('new secret', BOT_TOKEN_OF_A);
    expect(sealedNew.split(':')[1]).toBe(keyId(key));
    expect(new SecretBox(key).decrypt(sealedNew, BOT_TOKEN_OF_A)).toBe('new secret');
    expect(() => oldBox.decrypt(sealedNew, BOT_TOKEN_OF_A)).toThrow(SecretDecryptionError);
  });

  it("accepts the kid-less form 'v2:<base64>' by trying every key", () => {
    const sealed = new SecretBox(otherKey).encrypt('legacy', BOT_TOKEN_OF_A);
    const kidless = `v2:${sealed.split(':')[2]}`;
    expect(new SecretBox(key, [otherKey]).decrypt(kidless, BOT_TOKEN_OF_A)).toBe('legacy');
    expect(() => new SecretBox(key).decrypt(kidless, BOT_TOKEN_OF_A)).toThrow(/wrong key/);
  });

  it('rejects malformed values and keys of the wrong size clearly', () => {
    const box = new SecretBox(key);
    for (const bad of ['', 'plain text', 'v2:abc', 'v2:', 'v2:zz:AAAA', 'v2:not base64!']) {
      expect(() => box.decrypt(bad, BOT_TOKEN_OF_A)).toThrow(SecretDecryptionError);
    }
    expect(() => box.decrypt('v2:' + Buffer.alloc(10).toString('base64'), BOT_TOKEN_OF_A)).toThrow(/truncated/);
    expect(() => new SecretBox(randomBytes(16))).toThrow(/32 bytes/);
    expect(() => new SecretBox(key, [randomBytes(31)])).toThrow(/Previous encryption key #1 must be 32 bytes/);
  });

  it('binds a value to its owner and field: another organization or another field does not open it', () => {
    const box = new SecretBox(key);
    const sealed = box.encrypt('123456:the-bot-token', BOT_TOKEN_OF_A);
    const otherOrganization = organizationSecret('6f1c1a52-0000-4000-8000-00000000000b', BOT_TOKEN_OF_A.field);
    const otherField = organizationSecret(
      '6f1c1a52-0000-4000-8000-00000000000a',
      'trigger_actions.config.secret_headers.authorization',
    );
    for (const binding of [otherOrganization, otherField]) {
      expect(() => box.decrypt(sealed, binding)).toThrow(SecretDecryptionError);
      expect(() => box.decrypt(sealed, binding)).toThrow(/another owner or field/);
    }
    expect(box.decrypt(sealed, BOT_TOKEN_OF_A)).toBe('123456:the-bot-token');
  });

  it("no longer opens the unbound 'v1' format, and says so", () => {
    const box = new SecretBox(key);
    const v1 = box.encrypt('legacy', BOT_TOKEN_OF_A).replace(/^v2:/, 'v1:');
    expect(() => box.decrypt(v1, BOT_TOKEN_OF_A)).toThrow(/retired 'v1' format/);
    expect(SecretBox.isSealed(v1)).toBe(true);
  });

  it('isSealed recognises sealed values only', () => {
    const box = new SecretBox(key);
    expect(SecretBox.isSealed(box.encrypt('x', BOT_TOKEN_OF_A))).toBe(true);
    expect(SecretBox.isSealed(box.encrypt('', BOT_TOKEN_OF_A))).toBe(true);
    expect(SecretBox.isSealed(`v2:${box.encrypt('x', BOT_TOKEN_OF_A).split(':')[2]}`)).toBe(true);
    for (const value of [
      '123456:ABC-DEF1234ghIkl',
      'v2:',
      'v2:abc',
      'v2:0123abcd:AAAA',
      'V2:whatever',
      '',
      42,
      null,
      undefined,
      {},
    ]) {
      expect(SecretBox.isSealed(value)).toBe(false);
    }
  });
});

describe('parseAppKey', () => {
  const bytes = randomBytes(32);

  it('accepts hex (either case), base64 and base64url of 32 bytes, ignoring surrounding whitespace', () => {
    expect(parseAppKey(bytes.toString('hex'))).toEqual(bytes);
    expect(parseAppKey(bytes.toString('hex').toUpperCase())).toEqual(bytes);
    expect(parseAppKey(bytes.toString('base64'))).toEqual(bytes);
    expect(parseAppKey(bytes.toString('base64').replace(/=+$/, ''))).toEqual(bytes);
    expect(parseAppKey(bytes.toString('base64url'))).toEqual(bytes);
    expect(parseAppKey(`  ${bytes.toString('base64')}\n`)).toEqual(bytes);
  });

  it('rejects wrong lengths and non-key text with a clear message that does not echo the key', () => {
    expect(() => parseAppKey('')).toThrow(/empty/);
    expect(() => parseAppKey('   ')).toThrow(/empty/);
    expect(() => parseAppKey(randomBytes(16).toString('base64'))).toThrow(/16 bytes.*must be 32/);
    expect(() => parseAppKey(randomBytes(33).toString('base64'))).toThrow(/33 bytes.*must be 32/);
    expect(() => parseAppKey(randomBytes(31).toString('hex'))).toThrow(/hex|bytes/);
    const junk = 'this is not a key at all!';
    expect(() => parseAppKey(junk)).toThrow(/neither base64 nor hex/);
    try {
      parseAppKey(randomBytes(16).toString('base64'));
    } catch (err) {
      expect((err as Error).message).not.toMatch(/[A-Za-z0-9+/]{20,}/);
    }
  });
});

describe('loadOrCreateAppKey', () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'secrets-test-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
  });

  it('creates a 32-byte key file with mode 0600, then reads the same key back', async () => {
    const dir = path.join(await tempDir(), 'nested', 'data');
    const created = await loadOrCreateAppKey(dir);
    expect(created.length).toBe(32);
    const stat = await fs.stat(path.join(dir, APP_KEY_FILE));
    if (process.platform !== 'win32') expect(stat.mode & 0o777).toBe(0o600);
    expect(await loadOrCreateAppKey(dir)).toEqual(created);
    expect(parseAppKey(await fs.readFile(path.join(dir, APP_KEY_FILE), 'utf8'))).toEqual(created);
    expect((await fs.readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('agrees on one key when several callers race to create it', async () => {
    const dir = await tempDir();
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateAppKey(dir)));
    for (const k of keys) expect(k).toEqual(keys[0]);
  });

  it('uses an existing key file written as hex', async () => {
    const dir = await tempDir();
    const bytes = randomBytes(32);
    await fs.writeFile(path.join(dir, APP_KEY_FILE), bytes.toString('hex'));
    expect(await loadOrCreateAppKey(dir)).toEqual(bytes);
  });

  it('fails clearly on a corrupt key file instead of replacing it', async () => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, APP_KEY_FILE), 'garbage');
    await expect(loadOrCreateAppKey(dir)).rejects.toThrow(new RegExp(`${APP_KEY_FILE}: Application encryption key`));
    expect(await fs.readFile(path.join(dir, APP_KEY_FILE), 'utf8')).toBe('garbage');
  });
});

describe('sealActionSecrets', () => {
  const box = new SecretBox(randomBytes(32));
  const org = '00000000-0000-4000-8000-000000000001';
  const telegram = (botToken: string) =>
    ({ chat_id: '1', message_template: 'x', parse_mode: 'plain', bot_token: botToken }) as unknown as ActionConfig;

  it('seals a plain secret for its organization and field', () => {
    const sealed = sealActionSecrets('telegram', telegram('123:abc'), box, org, 'actions.0.config') as {
      bot_token: string;
    };
    expect(box.decrypt(sealed.bot_token, actionSecretBinding(org, 'bot_token'))).toBe('123:abc');
  });

  it('refuses the read-back placeholder instead of storing it as the secret', () => {
    const attempt = () => sealActionSecrets('telegram', telegram(REDACTED_SECRET), box, org, 'actions.0.config');
    expect(attempt).toThrow(DefinitionError);
    expect(attempt).toThrow(/actions\.0\.config\.bot_token.*send the secret itself again/);
  });
});
