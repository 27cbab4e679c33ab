/**
 * Zapatos types for the migrated schema. `npm run db:types` regenerates src/db/zapatos/schema.d.ts from a
 * throw-away embedded database migrated from scratch (or from DATABASE_URL if set); a test regenerates them from the
 * test template database and fails when the committed file is stale.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zapatos from 'zapatos/generate';

export const SCHEMA_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/db/zapatos/schema.d.ts');

/** Renders the schema.d.ts text for the database at `url`. */
export async function renderDbTypes(url: string): Promise<string> {
  const config = zapatos.finaliseConfig({
    db: { connectionString: url },
    schemas: { public: { include: '*', exclude: ['pgmigrations'] } },
    progressListener: false,
    warningListener: false,
  });
  const { ts, customTypeSourceFiles } = await zapatos.tsForConfig(config, () => undefined);
  if (Object.keys(customTypeSourceFiles).length > 0) {
    throw new Error(`unexpected custom Postgres types: ${Object.keys(customTypeSourceFiles).join(', ')}`);
  }
  return ts;
}

export async function readCommittedDbTypes(): Promise<string> {
  return readFile(SCHEMA_FILE, 'utf8');
}
