import { randomBytes } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { AuthError } from '../../src/auth/errors.js';
import { createTokenSigner } from '../../src/auth/tokens.js';
import { checkSiweNonce, issueSiweNonce } from '../../src/auth/siwe.js';
import { parseApiKey, randomBase62 } from '../../src/auth/api-keys.js';

const secret = randomBytes(32);
const userId = '3f0c2b1e-8d8b-4a51-9a6e-0c4c7f1f9b10';

async function authCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    return (err as AuthError).code;
  }
  throw new Error('expected an AuthError');
}

function authCodeSync(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    return (err as AuthError).code;
  }
  throw new Error('expected an AuthError');
}

describe('access tokens', () => {
  const signer = createTokenSigner(secret);

  it('signs and verifies, with the standard claims', async () => {
    const token = await signer.signAccessToken(userId);
    const verified = await signer.verifyAccessToken(token);
    expect(verified.userId).toBe(userId);
    const [header, payload] = token
      .split('.')
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()));
    expect(header).toMatchObject({ alg: 'HS256', typ: 'JWT' });
    expect(payload).toMatchObject({ sub: userId, iss: 'erc8004-backend', aud: 'erc8004-api' });
    expect(payload.exp - payload.iat).toBe(15 * 60);
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(verified.tokenId).toBe(payload.jti);
  });

  it('gives every token its own jti', async () => {
    const [a, b] = await Promise.all([signer.signAccessToken(userId), signer.signAccessToken(userId)]);
    expect((await signer.verifyAccessToken(a)).tokenId).not.toBe((await signer.verifyAccessToken(b)).tokenId);
  });

  it('refuses an expired token with token_expired', async () => {
    const past = createTokenSigner(secret, { accessTokenTtlSeconds: 60, now: () => Date.now() - 120_000 });
    const token = await past.signAccessToken(userId);
    expect(await authCode(signer.verifyAccessToken(token))).toBe('token_expired');
  });

  it('honours a short lifetime in real time', async () => {
    const short = createTokenSigner(secret, { accessTokenTtlSeconds: 1 });
    const token = await short.signAccessToken(userId);
    await expect(short.verifyAccessToken(token)).resolves.toMatchObject({ userId });
    await new Promise((r) => setTimeout(r, 2_100));
    expect(await authCode(short.verifyAccessToken(token))).toBe('token_expired');
  });

  it('refuses a tampered token', async () => {
    const token = await signer.signAccessToken(userId);
    const [h, p, s] = token.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: 'someone-else' })).toString('base64url')}.${s}`;
    expect(await authCode(signer.verifyAccessToken(forged))).toBe('token_invalid');
    const flipped = `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(await authCode(signer.verifyAccessToken(flipped))).toBe('token_invalid');
    expect(await authCode(signer.verifyAccessToken('not a jwt'))).toBe('token_invalid');
    expect(await authCode(signer.verifyAccessToken(''))).toBe('token_invalid');
  });

  it('refuses another secret, audience or issuer, and alg none', async () => {
    const other = createTokenSigner(randomBytes(32));
    expect(await authCode(signer.verifyAccessToken(await other.signAccessToken(userId)))).toBe('token_invalid');
    const otherAudience = createTokenSigner(secret, { audience: 'another-api' });
    expect(await authCode(signer.verifyAccessToken(await otherAudience.signAccessToken(userId)))).toBe('token_invalid');
    const otherIssuer = createTokenSigner(secret, { issuer: 'someone-else' });
    expect(await authCode(signer.verifyAccessToken(await otherIssuer.signAccessToken(userId)))).toBe('token_invalid');
    const unsecured = new UnsecuredJWT({})
      .setSubject(userId)
      .setIssuer('erc8004-backend')
      .setAudience('erc8004-api')
      .setIssuedAt()
      .setExpirationTime('5m')
      .setJti('x')
      .encode();
    expect(await authCode(signer.verifyAccessToken(unsecured))).toBe('token_invalid');
  });

  it('refuses a token without sub or jti', async () => {
    const noSub = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('erc8004-backend')
      .setAudience('erc8004-api')
      .setIssuedAt()
      .setExpirationTime('5m')
      .setJti('x')
      .sign(secret);
    expect(await authCode(signer.verifyAccessToken(noSub))).toBe('token_invalid');
    const noJti = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(userId)
      .setIssuer('erc8004-backend')
      .setAudience('erc8004-api')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(secret);
    expect(await authCode(signer.verifyAccessToken(noJti))).toBe('token_invalid');
  });

  it('requires a secret of at least 32 bytes', () => {
    expect(() => createTokenSigner(randomBytes(16))).toThrow(/32 bytes/);
  });
});

describe('SIWE nonces', () => {
  it('are alphanumeric (EIP-4361), unique and self-verifying', () => {
    const a = issueSiweNonce(secret);
    const b = issueSiweNonce(secret);
    expect(a.nonce).toMatch(/^[a-zA-Z0-9]{8,}$/);
    expect(a.nonce).not.toBe(b.nonce);
    expect(checkSiweNonce(secret, a.nonce).getTime()).toBe(a.expiresAt.getTime());
    expect(a.expiresAt.getTime() - Date.now()).toBeGreaterThan(4 * 60_000);
    expect(a.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(5 * 60_000);
  });

  it('refuses a forged, altered or foreign nonce, and an expired one', () => {
    const { nonce } = issueSiweNonce(secret);
    expect(authCodeSync(() => checkSiweNonce(randomBytes(32), nonce))).toBe('token_invalid');
    const altered = `${nonce.slice(0, 32)}ffffffff${nonce.slice(40)}`; // a later expiry
    expect(authCodeSync(() => checkSiweNonce(secret, altered))).toBe('token_invalid');
    expect(authCodeSync(() => checkSiweNonce(secret, 'abcdefgh12345678'))).toBe('token_invalid');
    const old = issueSiweNonce(secret, { now: () => Date.now() - 6 * 60_000 });
    expect(authCodeSync(() => checkSiweNonce(secret, old.nonce))).toBe('nonce_expired');
  });
});

describe('API key format', () => {
  it('parses sk_live_/sk_test_ keys into environment and prefix', () => {
    const secretPart = randomBase62(32);
    expect(parseApiKey(`sk_live_Ab3dEf9h_${secretPart}`)).toEqual({ environment: 'live', prefix: 'sk_live_Ab3dEf9h' });
    expect(parseApiKey(`sk_test_Ab3dEf9h_${secretPart}`)).toEqual({ environment: 'test', prefix: 'sk_test_Ab3dEf9h' });
    expect(parseApiKey(`sk_prod_Ab3dEf9h_${secretPart}`)).toBeUndefined();
    expect(parseApiKey(`sk_live_Ab3dEf9_${secretPart}`)).toBeUndefined();
    expect(parseApiKey(`sk_live_Ab3dEf9h_${secretPart}x`)).toBeUndefined();
    expect(parseApiKey(`sk_live_Ab3dEf9h_${secretPart.slice(1)}-`)).toBeUndefined();
  });

  it('draws base62 characters', () => {
    const text = randomBase62(5_000);
    expect(text).toMatch(/^[A-Za-z0-9]{5000}$/);
    expect(new Set(text).size).toBe(62);
  });
});

describe('AuthError', () => {
  it('carries a code and an optional retryAfterSeconds', () => {
    const err = new AuthError('locked', 'wait', { retryAfterSeconds: 30 });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('AuthError');
    expect(err.code).toBe('locked');
    expect(err.retryAfterSeconds).toBe(30);
    expect(new AuthError('conflict', 'x').retryAfterSeconds).toBeUndefined();
  });
});
