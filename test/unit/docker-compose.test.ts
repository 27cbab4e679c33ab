/**
 * Static checks of the deployment files (no Docker engine needed): docker-compose.yml, Dockerfile
 * and .dockerignore must agree with the code base — entry points exist, every environment variable
 * is one that src/config.ts reads, the Temporal search attributes match the ones the code uses.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect } from 'vitest';
import { parse } from 'yaml';
import { envSchema } from '../../src/config.js';
import { SEARCH_ATTRIBUTES } from '../../src/temporal/search-attributes.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8');

type Dict = Record<string, unknown>;
interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, unknown> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
}
interface Compose {
  services: Record<string, Service>;
}

// `merge: true` resolves the `<<: *app-env` merge keys the way Docker Compose does.
const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
const services = compose.services ?? {};
const serviceNames = Object.keys(services);

function buildContext(service: Service): string | undefined {
  if (typeof service.build === 'string') return service.build;
  return service.build?.context;
}
const isBuiltFromRepo = (service: Service): boolean => {
  const context = buildContext(service);
  return context !== undefined && path.resolve(root, context) === root;
};
const appServices = Object.entries(services).filter(([, s]) => isBuiltFromRepo(s));

function tokens(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((part) => part.split(/\s+/)).filter(Boolean);
}

function environmentOf(service: Service): Record<string, unknown> {
  const env = service.environment;
  if (env === undefined) return {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const eq = entry.indexOf('=');
        return eq === -1 ? [entry, undefined] : [entry.slice(0, eq), entry.slice(eq + 1)];
      }),
    );
  }
  return env;
}

function dependsOn(service: Service): Array<[string, string | undefined]> {
  const deps = service.depends_on;
  if (deps === undefined) return [];
  if (Array.isArray(deps)) return deps.map((name) => [name, undefined]);
  return Object.entries(deps).map(([name, opts]) => [name, opts?.condition]);
}

/** The TypeScript file a command runs through tsx, e.g. `src/bin/api.ts`. */
function scriptOf(command: string[]): string | undefined {
  const tsx = command.findIndex((t) => t === 'tsx' || t.endsWith('/tsx'));
  if (tsx === -1) return undefined;
  return command.slice(tsx + 1).find((t) => !t.startsWith('-'));
}

const dockerfile = read('Dockerfile');
/** Instructions of the last stage (the image that runs), continuation lines joined. */
const dockerLines = dockerfile
  .replace(/\\\r?\n/g, ' ')
  .split(/\r?\n/)
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));
const lastFrom = dockerLines.map((l) => /^FROM\s/i.test(l)).lastIndexOf(true);
const runtimeStage = dockerLines.slice(lastFrom);

function dockerfileCmd(): string[] {
  const cmd = runtimeStage.filter((l) => /^CMD\s/i.test(l)).at(-1);
  if (cmd === undefined) return [];
  const arg = cmd.replace(/^CMD\s+/i, '');
  return arg.startsWith('[') ? (JSON.parse(arg) as string[]) : tokens(arg);
}

/** What production refuses to start without (test/unit/production-secrets.test.ts, src/mail/mailer.ts), with valid samples. */
const PRODUCTION_SECRET_SAMPLES: Record<string, string> = {
  APP_ENCRYPTION_KEY: 'ab'.repeat(32),
  JWT_SECRET: 'a-sample-secret-of-at-least-thirty-two-characters',
  SMTP_URL: 'smtps://user:pass@mail.example.com:465',
};

describe('docker-compose.yml', () => {
  it('defines the expected services', () => {
    const expected = [
      'postgres',
      'temporal',
      'temporal-ui',
      'temporal-setup',
      'migrate',
      'api',
      'worker',
      'relay',
      'indexer',
    ];
    expect(
      expected.filter((name) => !serviceNames.includes(name)),
      'services missing from docker-compose.yml',
    ).toEqual([]);
  });

  it('runs, in every service built from the repo, a script that exists', () => {
    expect(appServices.length, 'no service is built from the repository (build: .)').toBeGreaterThan(0);
    const problems: string[] = [];
    for (const [name, service] of appServices) {
      const command = service.command === undefined ? dockerfileCmd() : tokens(service.command);
      const script = scriptOf(command);
      if (script === undefined) {
        problems.push(`${name}: command ${JSON.stringify(command)} does not run a script through tsx`);
      } else if (!existsSync(path.join(root, script))) {
        problems.push(`${name}: ${script} does not exist`);
      }
      const bin = command[0];
      if (bin !== undefined && bin.startsWith('node_modules/') && !existsSync(path.join(root, bin))) {
        problems.push(`${name}: ${bin} is not installed (is it a dependency in package.json?)`);
      }
    }
    expect(problems, 'app service commands that cannot run').toEqual([]);
  });

  it('gives the app services only environment variables that src/config.ts reads', () => {
    const known = new Set(Object.keys(envSchema.shape));
    const unknown: string[] = [];
    for (const [name, service] of appServices) {
      for (const key of Object.keys(environmentOf(service))) {
        if (!known.has(key)) unknown.push(`${name}: ${key}`);
      }
    }
    expect(unknown, 'env vars not in envSchema (src/config.ts)').toEqual([]);
  });

  it('requires from the environment every secret production refuses to start without', () => {
    // `${NAME:?message}`: compose itself stops with the message when the operator has not set it.
    const missing: string[] = [];
    for (const [name, service] of appServices) {
      const env = environmentOf(service);
      for (const secret of Object.keys(PRODUCTION_SECRET_SAMPLES)) {
        if (!new RegExp(`^\\$\\{${secret}:\\?.+\\}$`).test(String(env[secret] ?? '')))
          missing.push(`${name}: ${secret}`);
      }
    }
    expect(missing, 'production secrets not required as ${NAME:?message}').toEqual([]);
  });

  it('gives the app services values that envSchema accepts', () => {
    // Compose interpolation is resolved before parsing: ${VAR:-default} with its default, a required ${VAR:?message}
    // with a sample of what the operator must provide.
    const interpolate = (value: string): string =>
      value
        .replace(/\$\{([A-Z0-9_]+):\?[^}]*\}/g, (_m, name: string) => PRODUCTION_SECRET_SAMPLES[name] ?? '')
        .replace(/\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}/g, (_m, _name: string, fallback?: string) => fallback ?? '');
    const invalid: string[] = [];
    for (const [name, service] of appServices) {
      const env = Object.fromEntries(
        Object.entries(environmentOf(service)).map(([k, v]) => [k, interpolate(String(v ?? ''))]),
      );
      const result = envSchema.safeParse(env);
      if (!result.success) {
        for (const issue of result.error.issues) invalid.push(`${name}: ${issue.path.join('.')}: ${issue.message}`);
      }
    }
    expect(invalid, 'env values rejected by envSchema').toEqual([]);
  });

  it('points DATABASE_URL and TEMPORAL_ADDRESS at services of this file', () => {
    const problems: string[] = [];
    for (const [name, service] of appServices) {
      const env = environmentOf(service);
      const db = env.DATABASE_URL;
      if (typeof db === 'string') {
        const host = /@([^:/]+)/.exec(db)?.[1];
        if (host === undefined || !serviceNames.includes(host))
          problems.push(`${name}: DATABASE_URL host ${String(host)}`);
      }
      const temporal = env.TEMPORAL_ADDRESS;
      if (typeof temporal === 'string') {
        const host = temporal.split(':')[0];
        if (host === undefined || !serviceNames.includes(host))
          problems.push(`${name}: TEMPORAL_ADDRESS host ${String(host)}`);
      }
    }
    expect(problems, 'connection targets that are not services').toEqual([]);
  });

  it('registers exactly the search attributes of src/temporal/search-attributes.ts', () => {
    const setup = services['temporal-setup'];
    expect(setup, 'temporal-setup service missing').toBeDefined();
    const command = [...tokens(setup?.entrypoint), ...tokens(setup?.command)];
    expect(command.join(' '), 'temporal-setup must run `temporal operator search-attribute create`').toMatch(
      /temporal operator search-attribute create/,
    );
    const registered: Dict = {};
    for (let i = 0; i < command.length; i++) {
      if (command[i] === '--name') {
        const name = command[i + 1];
        const typeFlag = command[i + 2];
        const type = command[i + 3];
        expect(typeFlag, `--name ${String(name)} must be followed by --type`).toBe('--type');
        if (name !== undefined) registered[name] = type;
      }
    }
    expect(registered, 'temporal-setup search attributes (name → type) differ from SEARCH_ATTRIBUTES').toEqual({
      ...SEARCH_ATTRIBUTES,
    });
  });

  it('names only defined services in depends_on, with valid conditions', () => {
    const conditions = new Set([undefined, 'service_started', 'service_healthy', 'service_completed_successfully']);
    const problems: string[] = [];
    for (const [name, service] of Object.entries(services)) {
      for (const [dep, condition] of dependsOn(service)) {
        if (!serviceNames.includes(dep)) problems.push(`${name} → ${dep}: no such service`);
        if (!conditions.has(condition)) problems.push(`${name} → ${dep}: unknown condition ${String(condition)}`);
        const target = services[dep] as (Service & { healthcheck?: unknown; restart?: string }) | undefined;
        if (condition === 'service_healthy' && target !== undefined && target.healthcheck === undefined) {
          problems.push(`${name} → ${dep}: service_healthy but ${dep} has no healthcheck`);
        }
        if (condition === 'service_completed_successfully' && target !== undefined && target.restart !== 'no') {
          problems.push(`${name} → ${dep}: waits for completion but ${dep} is not restart: "no"`);
        }
      }
    }
    expect(problems, 'broken depends_on entries').toEqual([]);
  });
});

describe('Dockerfile', () => {
  it('exists and its default CMD runs a script that exists', () => {
    expect(existsSync(path.join(root, 'Dockerfile')), 'Dockerfile missing').toBe(true);
    const cmd = dockerfileCmd();
    expect(cmd.length, 'Dockerfile has no CMD in its final stage').toBeGreaterThan(0);
    const script = scriptOf(cmd);
    expect(script, `CMD ${JSON.stringify(cmd)} does not run a script through tsx`).toBeDefined();
    expect(existsSync(path.join(root, script ?? '')), `CMD script ${String(script)} does not exist`).toBe(true);
  });

  it('runs as the non-root user node', () => {
    const user = runtimeStage.filter((l) => /^USER\s/i.test(l)).at(-1);
    expect(user, 'final stage has no USER instruction').toBeDefined();
    expect(user?.replace(/^USER\s+/i, '').split(':')[0], 'final stage must run as node').toBe('node');
  });

  it('keeps tsx installed (dev dependencies are not omitted when tsx is one)', () => {
    const pkg = JSON.parse(read('package.json')) as { dependencies?: Dict; devDependencies?: Dict };
    const tsxIsDev = pkg.dependencies?.tsx === undefined && pkg.devDependencies?.tsx !== undefined;
    expect(pkg.dependencies?.tsx ?? pkg.devDependencies?.tsx, 'tsx is not in package.json').toBeDefined();
    if (tsxIsDev) {
      expect(dockerLines.join('\n'), 'tsx is a devDependency: the image must not omit dev dependencies').not.toMatch(
        /--omit[= ]dev|--only[= ]prod|--production|npm prune/,
      );
    }
  });

  it('copies only paths that exist and are not excluded by .dockerignore', () => {
    const ignored = read('.dockerignore')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    const sources = dockerLines
      .filter((l) => /^COPY\s/i.test(l) && !/--from=/i.test(l))
      .flatMap((l) => {
        const args = tokens(l.replace(/^COPY\s+/i, '')).filter((t) => !t.startsWith('--'));
        return args.slice(0, -1);
      });
    expect(sources.length, 'Dockerfile copies nothing from the build context').toBeGreaterThan(0);
    const topLevel = readdirSync(root);
    const problems: string[] = [];
    for (const source of sources) {
      const pattern = new RegExp(
        `^${source
          .replace(/^\.\//, '')
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')}$`,
      );
      const matches = source.includes('*') ? topLevel.filter((f) => pattern.test(f)) : [source];
      if (!matches.some((m) => existsSync(path.join(root, m)))) problems.push(`${source}: not found`);
      if (ignored.includes(source.replace(/^\.\//, '').replace(/\/$/, '')))
        problems.push(`${source}: excluded by .dockerignore`);
    }
    expect(problems, 'Dockerfile COPY sources').toEqual([]);
  });

  it('sets only environment variables that src/config.ts reads', () => {
    const known = new Set(Object.keys(envSchema.shape));
    const names = runtimeStage
      .filter((l) => /^ENV\s/i.test(l))
      .flatMap((l) => [...l.replace(/^ENV\s+/i, '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1] ?? ''));
    expect(
      names.filter((n) => !known.has(n)),
      'Dockerfile ENV vars not in envSchema',
    ).toEqual([]);
  });
});

describe('.dockerignore', () => {
  it('keeps local state and dependencies out of the build context', () => {
    const ignored = read('.dockerignore')
      .split(/\r?\n/)
      .map((l) => l.trim());
    const required = ['node_modules', '.data', '.temporal', 'dist', '.git', 'scratch', 'coverage'];
    expect(
      required.filter((entry) => !ignored.includes(entry)),
      'missing from .dockerignore',
    ).toEqual([]);
  });
});
