/**
 * API-key revocation reaches every API process at once (README): two API servers on one database, each with its own
 * cache of verified keys; a key revoked through one is refused by both, well before the caches' TTL would drop it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { eventually } from '../helpers/wait.js';

let db: TestDatabase;
let first: TestApi;
let second: TestApi;

beforeAll(async () => {
  db = await createTestDatabase();
  [first, second] = await Promise.all([startTestApi(db), startTestApi(db)]);
});
afterAll(async () => {
  await first?.close();
  await second?.close();
  await db?.drop();
});

describe('API-key revocation', () => {
  it('is refused by every API process at once, not after the cache TTL', async () => {
    const anonymous = await first.caller({}, '10.20.0.1');
    const session = await anonymous.auth.register({
      username: 'revoker',
      email: 'revoker@example.test',
      password: 'correct horse battery',
    });
    const owner = await first.caller({ authorization: `Bearer ${session.accessToken}` }, '10.20.0.2');
    const organizationId = session.organizationId!;
    // The largest plan's request limit: the polling below must meet a refusal of the key, never the rate limit.
    await db.pool.query(`UPDATE organizations SET plan = 'enterprise' WHERE id = $1`, [organizationId]);
    const key = await owner.apiKeys.create({ organizationId, name: 'shared', permissions: ['read'] });

    const statusOn = async (api: TestApi) =>
      (
        await fetch(`${api.server.url}/api/v1/organizations/${organizationId}/triggers`, {
          headers: { 'x-api-key': key.key },
        })
      ).status;
    // Both processes have verified (and cached) the key.
    for (const api of [first, second, first, second]) expect(await statusOn(api)).toBe(200);

    await owner.apiKeys.revoke({ organizationId, keyId: key.id, reason: 'leaked' });
    // Bounded well below the caches' TTL (60 s): only the revocation notification explains a refusal this soon.
    const statuses = await eventually(
      () => Promise.all([statusOn(first), statusOn(second)]),
      (s) => s.every((code) => code === 401),
      5_000,
      100,
    );
    expect(statuses).toEqual([401, 401]);
  });
});
