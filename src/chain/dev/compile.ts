/**
 * Compiles the test contracts in ./src with solc-js (standard JSON, viaIR, optimizer) and caches abi + bytecode in
 * <repo>/.cache/solc/artifacts.json, keyed by a sha256 of the sources, the compiler version and the settings. solc-js takes
 * seconds to load and compile, so it is only loaded when the cache is stale.
 *
 * Run directly (`npx tsx src/chain/dev/compile.ts`) to (re)build the cache.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Abi, Hex } from 'viem';

export const CONTRACT_NAMES = [
  'IdentityRegistry',
  'ReputationRegistry',
  'ValidationRegistry',
  'LegacyReputationRegistryV04',
  'BenchReputationEmitter',
  'TestUSDC',
  'TestMulticall3',
  'TestERC1271Wallet',
] as const;
export type ContractName = (typeof CONTRACT_NAMES)[number];

export interface Artifact {
  abi: Abi;
  bytecode: Hex;
}
export type Artifacts = Record<ContractName, Artifact>;

const here = path.dirname(fileURLToPath(import.meta.url));
const SRC_DIR = path.resolve(here, '../contracts');
// Build output, git-ignored; rebuilt when a source, the compiler or the settings change.
const CACHE_DIR = path.resolve(here, '../../../.cache/solc');
const CACHE_FILE = path.join(CACHE_DIR, 'artifacts.json');

const require = createRequire(import.meta.url);

const SETTINGS = {
  viaIR: true, // the 11-field NewFeedback emit is "stack too deep" without it
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
} as const;

interface CacheFile {
  key: string;
  solcVersion: string;
  artifacts: Artifacts;
}

interface SolcOutput {
  errors?: { severity: 'error' | 'warning' | 'info'; formattedMessage: string }[];
  contracts?: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string } } }>>;
}

async function readSources(): Promise<Record<string, { content: string }>> {
  const files = (await fs.readdir(SRC_DIR)).filter((f) => f.endsWith('.sol')).sort();
  const sources: Record<string, { content: string }> = {};
  for (const file of files) sources[file] = { content: await fs.readFile(path.join(SRC_DIR, file), 'utf8') };
  return sources;
}

function solcPackageVersion(): string {
  return (require('solc/package.json') as { version: string }).version;
}

function cacheKey(sources: Record<string, { content: string }>, solcVersion: string): string {
  const h = createHash('sha256');
  h.update(`solc ${solcVersion}\n`);
  h.update(JSON.stringify(SETTINGS));
  for (const [name, { content }] of Object.entries(sources)) h.update(`\n--- ${name}\n${content}`);
  return h.digest('hex');
}

function compile(sources: Record<string, { content: string }>): { artifacts: Artifacts; solcVersion: string } {
  // solc is CommonJS; the full compiler (soljson) is loaded only here.
  const solc = require('solc') as { version(): string; compile(input: string): string };
  const input = { language: 'Solidity', sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOutput;
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) {
    throw new Error(`solc failed:\n${errors.map((e) => e.formattedMessage).join('\n')}`);
  }
  const artifacts = {} as Artifacts;
  for (const name of CONTRACT_NAMES) {
    const out = output.contracts?.[`${name}.sol`]?.[name];
    if (!out)
      throw new Error(
        `solc produced no output for ${name} (expected contract ${name} in src/chain/contracts/${name}.sol)`,
      );
    artifacts[name] = { abi: out.abi, bytecode: `0x${out.evm.bytecode.object}` };
  }
  return { artifacts, solcVersion: solc.version() };
}

let memo: Promise<Artifacts> | undefined;

/** Returns the compiled test contracts, compiling only when the sources (or compiler/settings) changed. */
export function loadArtifacts(): Promise<Artifacts> {
  memo ??= (async () => {
    const sources = await readSources();
    const key = cacheKey(sources, solcPackageVersion());
    try {
      const cached = JSON.parse(await fs.readFile(CACHE_FILE, 'utf8')) as CacheFile;
      if (cached.key === key && CONTRACT_NAMES.every((n) => cached.artifacts[n])) return cached.artifacts;
    } catch {
      // missing or unreadable cache: rebuild
    }
    const { artifacts, solcVersion } = compile(sources);
    const file: CacheFile = { key, solcVersion, artifacts };
    await fs.mkdir(CACHE_DIR, { recursive: true });
    // Write-then-rename so concurrent test workers never read a half-written file.
    const tmp = `${CACHE_FILE}.${process.pid}.${Date.now()}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(file));
    await fs.rename(tmp, CACHE_FILE);
    return artifacts;
  })();
  memo.catch(() => {
    memo = undefined;
  });
  return memo;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const artifacts = await loadArtifacts();
  for (const name of CONTRACT_NAMES) {
    console.log(`${name}: ${(artifacts[name].bytecode.length - 2) / 2} bytes`);
  }
  console.log(`done in ${Date.now() - started} ms -> ${path.relative(process.cwd(), CACHE_FILE)}`);
}
