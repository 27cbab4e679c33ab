import { mkdir, mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';
import { renderDbTypes, SCHEMA_FILE } from './db-types.js';

const logger = pino({ level: 'warn' });
const port = 30_000 + Math.floor(Math.random() * 20_000);
const dir = await mkdtemp(path.join(os.tmpdir(), 'erc8004-dbtypes-'));
await chmod(dir, 0o755);
const db = process.env.DATABASE_URL
  ? undefined
  : await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port, logger, database: 'codegen' });
try {
  const url = process.env.DATABASE_URL ?? db!.urlFor('codegen');
  await migrate({ databaseUrl: url, logger });
  const ts = await renderDbTypes(url);
  await mkdir(path.dirname(SCHEMA_FILE), { recursive: true });
  await writeFile(SCHEMA_FILE, ts);
  process.stdout.write(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}\n`);
} finally {
  await db?.stop();
  await rm(dir, { recursive: true, force: true });
}
