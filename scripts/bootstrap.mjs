#!/usr/bin/env node
// First-run setup for `npm start` and `npm test` on a fresh clone (plain Node, no dependencies):
// installs npm packages when node_modules is missing or older than the lockfile, and provides the Temporal CLI
// (--temporal) and stripe-mock, the Stripe stand-in of the billing tests (--stripe-mock).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  console.error(`erc8004-backend needs Node.js >= 20.19; this is ${process.versions.node}.`);
  process.exit(1);
}

const lock = path.join(root, 'package-lock.json');
const installed = path.join(root, 'node_modules', '.package-lock.json');
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
  console.error('Installing npm dependencies (npm ci)…');
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/** Runs a script that finds or builds a tool and prints its path; its messages go to our stderr. */
function ensureTool(script) {
  try {
    execFileSync('bash', [path.join(root, script)], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  } catch {
    process.exit(1);
  }
}

if (process.argv.includes('--temporal') && !process.env.TEMPORAL_ADDRESS) ensureTool('temporal/ensure-cli.sh');
if (process.argv.includes('--stripe-mock')) ensureTool('scripts/ensure-stripe-mock.sh');
