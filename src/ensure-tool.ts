/** Tools the project provides itself (the Temporal CLI, stripe-mock): found, or built on first use, by its scripts. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Runs `script` (relative to the project root), which prints the tool's path as its last line of stdout and its
 * messages on stderr; a first run may build the tool, hence the long timeout. Throws with those messages when it fails.
 */
export async function ensureTool(script: string, name: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('bash', [path.join(PROJECT_ROOT, script)], {
      env,
      maxBuffer: 16 * 1024 * 1024,
      timeout: 30 * 60_000,
    });
    const tool = stdout.trim().split('\n').pop();
    if (!tool) throw new Error(`${script} printed no path`);
    return tool;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`${name} unavailable.\n${stderr || (err as Error).message}`, { cause: err });
  }
}
