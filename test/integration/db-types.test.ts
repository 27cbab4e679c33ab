import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as db from 'zapatos/db';
import type * as s from 'zapatos/schema';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readCommittedDbTypes, renderDbTypes, SCHEMA_FILE } from '../../scripts/db-types.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertUser } from '../helpers/fixtures.js';

let testDb: TestDatabase;
beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(async () => testDb?.drop());

it('committed zapatos types match the migrated schema (run `npm run db:types` after changing migrations)', async () => {
  const fresh = await renderDbTypes(testDb.url);
  const committed = await readCommittedDbTypes();
  expect(committed === fresh, 'src/db/zapatos/schema.d.ts is stale: run `npm run db:types`').toBe(true);
});

it('types queries against the real tables', async () => {
  const owner = await insertUser(testDb.pool, { username: 'typed' });
  const org: s.organizations.JSONSelectable = await db
    .insert('organizations', { name: 'Typed Org', slug: 'typed-org', owner_id: owner })
    .run(testDb.pool);
  expect(org).toMatchObject({ name: 'Typed Org', plan: 'free', is_personal: false });
  const found = await db
    .selectExactlyOne('organizations', { slug: 'typed-org' }, { columns: ['id', 'owner_id'] })
    .run(testDb.pool);
  expect(found).toEqual({ id: org.id, owner_id: owner });
});

/** Renames a column of one table or view in the generated schema types, as a migration renaming it would. */
function renameColumn(schema: string, table: string, column: string, renamed: string): string {
  const start = schema.indexOf(`export namespace ${table} {`);
  const end = schema.indexOf('export namespace ', start + 1);
  expect(start, `table ${table} in the schema types`).toBeGreaterThan(-1);
  const block = schema
    .slice(start, end)
    .replaceAll(new RegExp(`\\b${column}(\\??):`, 'g'), `${renamed}$1:`)
    .replaceAll(`'${column}'`, `'${renamed}'`);
  expect(block).toContain(`${renamed}:`);
  return schema.slice(0, start) + block + schema.slice(end);
}

// The modules whose queries read the events, trigger and organization tables (and what they import). The project's own
// `npm run typecheck` is the passing case: this checks that the same code no longer compiles once columns are renamed.
const QUERY_MODULES = [
  'src/triggers/queries.ts',
  'src/triggers/store.ts',
  'src/triggers/service.ts',
  'src/triggers/backtest.ts',
  'src/indexer/store.ts',
  'src/relay/relay.ts',
  'src/relay/trigger-dispatcher.ts',
  'src/api/metrics.ts',
  'activities/triggers.ts',
  'src/organizations/organizations.ts',
  'src/auth/accounts.ts',
  'src/auth/api-keys.ts',
  'src/auth/invitations.ts',
];
/** Each rename, and modules whose typecheck it must break. */
const RENAMES = [
  {
    table: 'triggers',
    column: 'enabled',
    renamed: 'is_enabled',
    breaks: ['src/triggers/queries.ts', 'src/triggers/store.ts'],
  },
  { table: 'events', column: 'tag1', renamed: 'tag_1', breaks: ['src/indexer/decode.ts', 'src/relay/relay.ts'] },
  { table: 'canonical_events', column: 'value_decimals', renamed: 'decimals', breaks: ['src/triggers/event-row.ts'] },
  {
    table: 'checkpoints',
    column: 'last_block_number',
    renamed: 'last_block',
    breaks: ['src/indexer/store.ts', 'src/api/metrics.ts'],
  },
  {
    table: 'organizations',
    column: 'is_personal',
    renamed: 'personal',
    breaks: ['src/organizations/organizations.ts', 'src/auth/accounts.ts'],
  },
  { table: 'api_keys', column: 'prefix', renamed: 'key_prefix', breaks: ['src/auth/api-keys.ts'] },
  { table: 'organization_invitations', column: 'expires_at', renamed: 'expiry', breaks: ['src/auth/invitations.ts'] },
];

it(
  'a column renamed in a migration fails the typecheck of the queries that read it',
  { timeout: 180_000 },
  async () => {
    const root = path.resolve(path.dirname(SCHEMA_FILE), '../../..');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'erc8004-renamed-columns-'));
    try {
      let schema = await readCommittedDbTypes();
      for (const r of RENAMES) schema = renameColumn(schema, r.table, r.column, r.renamed);
      await writeFile(path.join(dir, 'schema.d.ts'), schema);
      // The project's compiler options over the modules above, with the renamed schema in place of the committed one.
      await writeFile(
        path.join(dir, 'tsconfig.json'),
        JSON.stringify({
          extends: path.join(root, 'tsconfig.json'),
          compilerOptions: { rootDir: '/', typeRoots: [path.join(root, 'node_modules/@types')], incremental: false },
          include: [],
          files: [path.join(dir, 'schema.d.ts'), ...QUERY_MODULES.map((m) => path.join(root, m))],
        }),
      );
      const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
      const failure = await promisify(execFile)(process.execPath, [tsc, '-p', dir, '--noEmit', '--pretty', 'false'], {
        cwd: root,
        maxBuffer: 16 * 1024 * 1024,
      }).then(
        () => undefined,
        (err: { stdout: string }) => err,
      );
      expect(failure, 'tsc passed on the renamed schema').toBeDefined();
      // One diagnostic per `file(line,col): error TS…` line, with its indented continuation lines.
      const diagnostics = failure!.stdout.split(/\n(?=\S)/).filter((d) => d.trim() !== '');
      const mentionsRename = (d: string) => RENAMES.some((r) => new RegExp(`\\b${r.column}\\b`).test(d));
      for (const r of RENAMES) {
        for (const file of r.breaks) {
          expect(
            diagnostics.some((d) => d.startsWith(`${file}(`) && d.includes(r.column)),
            `${file} does not fail on ${r.table}.${r.column}`,
          ).toBe(true);
        }
      }
      // Nothing else broke (the scratch setup compiles): every error is in a module that reads a renamed column.
      const brokenByRename = new Set(diagnostics.filter(mentionsRename).map((d) => d.slice(0, d.indexOf('('))));
      expect(diagnostics.filter((d) => !brokenByRename.has(d.slice(0, d.indexOf('('))))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
