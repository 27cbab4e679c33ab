/**
 * Secrets we must send on (Telegram bot tokens, webhook signing secrets, MCP tokens) are stored encrypted with an
 * application key: AES-256-GCM, a random 12-byte IV per value, the 16-byte tag authenticating the ciphertext.
 *
 * Sealed format: `v2:<kid>:<base64(iv | tag | ciphertext)>`, where kid is the first 8 hex digits of sha256(key), so
 * a value names the key that sealed it and old values stay readable after a key rotation (pass the old keys as
 * `previousKeys`). `v2:<base64>` without a kid is also accepted by `decrypt` (every known key is tried).
 *
 * Every value is bound to what it belongs to (a `SecretBinding`: its owner, e.g. an organization, and its field): the
 * binding is the GCM additional data, so a ciphertext copied into another organization's row, or into another field,
 * does not open. The `v1` format (one constant AAD for every value) is no longer opened; migration
 * 0017_bound_secrets re-sealed the stored `v1` values as `v2`. `isSealed` still recognises both, so that neither is
 * accepted as a plain secret.
 *
 * Production sets APP_ENCRYPTION_KEY (base64 or hex of 32 bytes, see `parseAppKey`); development may use
 * `loadOrCreateAppKey`, which keeps a generated key in the data directory.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

const VERSION = 'v2';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const SEALED_PATTERN = /^v2:(?:([0-9a-f]{8}):)?([A-Za-z0-9+/]+={0,2})$/;
/** Sealed values of this and earlier formats (the earlier ones are refused as input, never opened). */
const ANY_SEALED_PATTERN = /^v[12]:(?:([0-9a-f]{8}):)?([A-Za-z0-9+/]+={0,2})$/;

/** What a sealed value belongs to: it opens only with the same binding. */
export interface SecretBinding {
  /** Who owns the value, e.g. `organization:<uuid>` (see `organizationSecret`). */
  owner: string;
  /** Where it is stored, e.g. `trigger_actions.config.bot_token`. */
  field: string;
}

/** The binding of a value an organization owns. */
export function organizationSecret(organizationId: string, field: string): SecretBinding {
  return { owner: `organization:${organizationId}`, field };
}

/** The binding of a value that belongs to an agent (its MCP token). */
export function agentSecret(chainId: number, agentId: string | number, field: string): SecretBinding {
  return { owner: `agent:${chainId}:${agentId}`, field };
}

/** The GCM additional data: the scheme and the binding, NUL-separated (neither part contains NUL). */
function aadOf(binding: SecretBinding): Buffer {
  if (
    !binding ||
    typeof binding.owner !== 'string' ||
    typeof binding.field !== 'string' ||
    !binding.owner ||
    !binding.field
  ) {
    throw new TypeError('a sealed secret needs a binding: its owner and its field');
  }
  if (binding.owner.includes('\0') || binding.field.includes('\0'))
    throw new TypeError('a secret binding must not contain NUL');
  return Buffer.from(`erc8004-secret-v2\0${binding.owner}\0${binding.field}`);
}

/** The file `loadOrCreateAppKey` keeps the development key in. */
export const APP_KEY_FILE = 'app-encryption.key';

/** A sealed value could not be opened: malformed, tampered with, or sealed with a key we don't have. */
export class SecretDecryptionError extends Error {
  override readonly name = 'SecretDecryptionError';
}

/** First 8 hex digits of sha256(key): names a key without revealing it. */
export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

function checkKey(key: Buffer, what: string): void {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
    throw new TypeError(`${what} must be ${KEY_BYTES} bytes, got ${Buffer.isBuffer(key) ? key.length : typeof key}`);
  }
}

export class SecretBox {
  private readonly key: Buffer;
  private readonly kid: string;
  /** Every key we can decrypt with, current first, by kid. */
  private readonly keys: Map<string, Buffer>;

  constructor(key: Buffer, previousKeys: readonly Buffer[] = []) {
    checkKey(key, 'The application encryption key');
    previousKeys.forEach((k, i) => checkKey(k, `Previous encryption key #${i + 1}`));
    this.key = Buffer.from(key);
    this.kid = keyId(this.key);
    this.keys = new Map([[this.kid, this.key]]);
    for (const k of previousKeys) {
      const id = keyId(k);
      if (!this.keys.has(id)) this.keys.set(id, Buffer.from(k));
    }
  }

  /** The kid of the current key, as written into every sealed value. */
  get keyId(): string {
    return this.kid;
  }

  /**
   * Seals `plain` with the current key for `binding`: `v2:<kid>:<base64(iv|tag|ciphertext)>`, different on every call.
   */
  encrypt(plain: string, binding: SecretBinding): string {
    if (typeof plain !== 'string') throw new TypeError('SecretBox.encrypt expects a string');
    const aad = aadOf(binding);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return `${VERSION}:${this.kid}:${Buffer.concat([iv, tag, ciphertext]).toString('base64')}`;
  }

  /**
   * Opens a value sealed by `encrypt` for the same binding, with the current or a previous key; throws
   * SecretDecryptionError otherwise (also for a value sealed for another owner or field).
   */
  decrypt(sealed: string, binding: SecretBinding): string {
    const aad = aadOf(binding);
    const match = typeof sealed === 'string' ? SEALED_PATTERN.exec(sealed) : null;
    if (!match) {
      throw new SecretDecryptionError(
        typeof sealed === 'string' && sealed.startsWith('v1:')
          ? `Sealed secret is in the retired 'v1' format (not bound to its owner); enter the secret again`
          : `Not a sealed secret: expected '${VERSION}:<kid>:<base64>'`,
      );
    }
    const [, kid, payload] = match;
    const data = Buffer.from(payload!, 'base64');
    if (data.length < IV_BYTES + TAG_BYTES) {
      throw new SecretDecryptionError('Sealed secret is truncated (shorter than IV and authentication tag)');
    }
    let candidates: Buffer[];
    if (kid !== undefined) {
      const key = this.keys.get(kid);
      if (!key) {
        throw new SecretDecryptionError(
          `Sealed secret was encrypted with key ${kid}, which is neither the current application key (${this.kid}) ` +
            'nor a configured previous key',
        );
      }
      candidates = [key];
    } else {
      candidates = [...this.keys.values()];
    }
    for (const key of candidates) {
      const plain = open(key, data, aad);
      if (plain !== undefined) return plain;
    }
    throw new SecretDecryptionError(
      kid !== undefined
        ? `Sealed secret failed authentication with key ${kid}: it belongs to another owner or field (${binding.field}), or was tampered with`
        : `Sealed secret failed authentication: wrong key, another owner or field (${binding.field}), or tampered with`,
    );
  }

  /**
   * Whether `value` looks like the output of `encrypt`, in this or the retired `v1` format (format only; says nothing
   * about which key or binding).
   */
  static isSealed(value: unknown): boolean {
    if (typeof value !== 'string') return false;
    const match = ANY_SEALED_PATTERN.exec(value);
    return !!match && Buffer.from(match[2]!, 'base64').length >= IV_BYTES + TAG_BYTES;
  }
}

/** AES-256-GCM decryption of iv|tag|ciphertext; undefined when authentication fails. */
function open(key: Buffer, data: Buffer, aad: Buffer): string | undefined {
  const iv = data.subarray(0, IV_BYTES);
  const tag = data.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
  const ciphertext = data.subarray(IV_BYTES + TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/**
 * Parses an application key written as hex (64 digits) or base64 / base64url of exactly 32 bytes (surrounding
 * whitespace ignored). Error messages never repeat the key text.
 */
export function parseAppKey(text: string): Buffer {
  const value = typeof text === 'string' ? text.trim() : '';
  if (value === '') throw new Error('Application encryption key is empty: expected 32 bytes as base64 or hex');
  if (/^[0-9a-fA-F]+$/.test(value) && value.length === KEY_BYTES * 2) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(value) || /^[A-Za-z0-9_-]+={0,2}$/.test(value)) {
    const urlSafe = /[-_]/.test(value);
    const key = Buffer.from(value, urlSafe ? 'base64url' : 'base64');
    // Node's decoder skips junk silently: only accept text that is the canonical encoding of what it decoded to.
    const canonical = key.toString(urlSafe ? 'base64url' : 'base64').replace(/=+$/, '');
    if (canonical === value.replace(/=+$/, '') && key.length === KEY_BYTES) return key;
    if (canonical === value.replace(/=+$/, '')) {
      throw new Error(
        `Application encryption key decodes to ${key.length} bytes as base64; it must be ${KEY_BYTES} bytes`,
      );
    }
  }
  if (/^[0-9a-fA-F]+$/.test(value)) {
    throw new Error(
      `Application encryption key has ${value.length} hex digits; it must be ${KEY_BYTES * 2} (${KEY_BYTES} bytes)`,
    );
  }
  throw new Error(
    `Application encryption key is neither base64 nor hex of ${KEY_BYTES} bytes ` +
      "(generate one with: node -e \"console.log(require('crypto').randomBytes(32).toString('base64'))\")",
  );
}

/**
 * Development only: reads the key from `<dataDir>/app-encryption.key`, or creates that file with 32 random bytes
 * (base64, mode 0600) when it does not exist. Production sets APP_ENCRYPTION_KEY instead.
 */
export async function loadOrCreateAppKey(dataDir: string): Promise<Buffer> {
  const file = path.join(dataDir, APP_KEY_FILE);
  const read = async () => {
    const text = await fs.readFile(file, 'utf8');
    try {
      return parseAppKey(text);
    } catch (err) {
      throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  try {
    return await read();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await fs.mkdir(dataDir, { recursive: true });
  const key = randomBytes(KEY_BYTES);
  // Write a private temp file, then hard-link it into place: the key appears complete or not at all, and a key
  // another process created in the meantime is never overwritten (that would orphan the secrets sealed with it).
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await fs.writeFile(temp, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    await fs.chmod(temp, 0o600);
    try {
      await fs.link(temp, file);
    } catch (err) {
      // Filesystems without hard links: create exclusively in place instead.
      if (!['EPERM', 'ENOTSUP', 'ENOSYS', 'EXDEV'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      await fs.writeFile(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return read();
    throw err;
  } finally {
    await fs.rm(temp, { force: true });
  }
  return key;
}
