import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { APP_KEY_FILE, SecretBox, SecretDecryptionError, keyId, loadOrCreateAppKey, parseAppKey } from '../../src/secrets.js';

const key = randomBytes(32);
const otherKey = randomBytes(32);

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
      expect(box.decrypt(box.encrypt(plain))).toBe(plain);
    }
  });

  it("writes 'v1:<kid>:<base64(iv|tag|ciphertext)>'", () => {
    const box = new SecretBox(key);
    const sealed = box.encrypt('hello');
    const match = /^v1:([0-9a-f]{8}):([A-Za-z0-9+/]+={0,2})$/.exec(sealed);
    expect(match).not.toBeNull();
    expect(match![1]).toBe(keyId(key));
    expect(box.keyId).toBe(keyId(key));
    expect(Buffer.from(match![2]!, 'base64').length).toBe(12 + 16 + Buffer.byteLength('hello'));
    expect(sealed).not.toContain('hello');
  });

  it('uses a random IV: sealing the same value twice gives different results', () => {
    const box = new SecretBox(key);
    const a = box.encrypt('same secret');
    const b = box.encrypt('same secret');
    expect(a).not.toBe(b);
    expect(Buffer.from(a.split(':')[2]!, 'base64').subarray(0, 12)).not.toEqual(Buffer.from(b.split(':')[2]!, 'base64').subarray(0, 12));
    expect(box.decrypt(a)).toBe(box.decrypt(b));
  });

  it('detects tampering in the IV, the tag and the ciphertext', () => {
    const box = new SecretBox(key);
    const sealed = box.encrypt('do not touch');
    for (const index of [0, 11, 12, 27, 28, 28 + 11]) {
      expect(() => box.decrypt(flipByte(sealed, index))).toThrow(SecretDecryptionError);
      expect(() => box.decrypt(flipByte(sealed, index))).toThrow(/tampered|corrupted/);
    }
    // Cutting the ciphertext short, too.
    const [, kid, payload] = sealed.split(':');
    const short = Buffer.from(payload!, 'base64').subarray(0, 30).toString('base64');
    expect(() => box.decrypt(`v1:${kid}:${short}`)).toThrow(SecretDecryptionError);
  });

  it('refuses a value sealed with another key, saying which key it needs', () => {
    const sealed = new SecretBox(otherKey).encrypt('secret');
    expect(() => new SecretBox(key).decrypt(sealed)).toThrow(SecretDecryptionError);
    expect(() => new SecretBox(key).decrypt(sealed)).toThrow(new RegExp(`key ${keyId(otherKey)}.*neither the current`));
  });

  it('refuses a value sealed with another key even when the kid is forged to match', () => {
    const sealed = new SecretBox(otherKey).encrypt('secret');
    const forged = sealed.replace(/^v1:[0-9a-f]{8}:/, `v1:${keyId(key)}:`);
    expect(() => new SecretBox(key).decrypt(forged)).toThrow(/tampered|corrupted/);
  });

  it('decrypts values sealed with a previous key and always encrypts with the current one', () => {
    const oldBox = new SecretBox(otherKey);
    const sealedOld = oldBox.encrypt('old secret');
    const rotated = new SecretBox(key, [otherKey]);
    expect(rotated.decrypt(sealedOld)).toBe('old secret');
    const sealedNew = rotated.encrypt('new secret');
    expect(sealedNew.split(':')[1]).toBe(keyId(key));
    expect(new SecretBox(key).decrypt(sealedNew)).toBe('new secret');
    expect(() => oldBox.decrypt(sealedNew)).toThrow(SecretDecryptionError);
  });

  it("accepts the kid-less form 'v1:<base64>' by trying every key", () => {
    const sealed = new SecretBox(otherKey).encrypt('legacy');
    const kidless = `v1:${sealed.split(':')[2]}`;
    expect(new SecretBox(key, [otherKey]).decrypt(kidless)).toBe('legacy');
    expect(() => new SecretBox(key).decrypt(kidless)).toThrow(/wrong key/);
  });

  it('rejects malformed values and keys of the wrong size clearly', () => {
    const box = new SecretBox(key);
    for (const bad of ['', 'plain text', 'v2:abc', 'v1:', 'v1:zz:AAAA', 'v1:not base64!']) {
      expect(() => box.decrypt(bad)).toThrow(SecretDecryptionError);
    }
    expect(() => box.decrypt('v1:' + Buffer.alloc(10).toString('base64'))).toThrow(/truncated/);
    expect(() => new SecretBox(randomBytes(16))).toThrow(/32 bytes/);
    expect(() => new SecretBox(key, [randomBytes(31)])).toThrow(/Previous encryption key #1 must be 32 bytes/);
  });

  it('isSealed recognises sealed values only', () => {
    const box = new SecretBox(key);
    expect(SecretBox.isSealed(box.encrypt('x'))).toBe(true);
    expect(SecretBox.isSealed(box.encrypt(''))).toBe(true);
    expect(SecretBox.isSealed(`v1:${box.encrypt('x').split(':')[2]}`)).toBe(true);
    for (const value of ['123456:ABC-DEF1234ghIkl', 'v1:', 'v1:abc', 'v1:0123abcd:AAAA', 'V1:whatever', '', 42, null, undefined, {}]) {
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
