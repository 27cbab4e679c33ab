/**
 * Demo mode's activity simulator: plays a small ERC-8004 economy against our registries on the demo chain, so a new
 * user sees events flow in within seconds.
 *
 * Roles are kept apart (account 0 is the deployer and does nothing here): a few accounts own agents, others are
 * clients that give feedback, the last ones are validators. Agents only ever move between owner accounts, so no
 * client or validator ever owns an agent and nobody rates their own agent.
 *
 * It first registers a few agents (registration files as data:, ipfs:// and https:// URIs, with metadata), then at
 * `eventsPerSecond` transactions per second: mostly feedback (0–100 scores, 2-decimal percentages, latencies,
 * occasionally negative yields), some revocations and responses, validation requests answered later (some never),
 * occasional URI and metadata updates, a new agent now and then, rare legacy v0.4 feedback and a rare transfer.
 *
 * Every transaction is awaited (DevRegistries waits for the receipt); a failure is logged and counted and the loop
 * goes on. All choices come from `random`, so a seeded generator makes the sequence of actions reproducible.
 */
import {
  encodeAbiParameters,
  keccak256,
  pad,
  parseEventLogs,
  stringToHex,
  type Abi,
  type Address,
  type Hex,
  type TransactionReceipt,
} from 'viem';
import type { DevRegistries, MetadataEntry } from '../chain/dev/registry-client.js';
import type { Logger } from '../logger.js';

export interface SimulatorOptions {
  registries: DevRegistries;
  /** Transactions per second after the initial seeding; 0 = seed, then idle until stopped. */
  eventsPerSecond: number;
  logger: Logger;
  /** Uniform [0, 1) generator; inject a seeded one for reproducible runs. Default Math.random. */
  random?: () => number;
  /** How many agents the initial seeding registers. Default 4. */
  seedAgents?: number;
}

export interface SimulatorStats {
  /** Successful transactions (each awaited until mined). */
  transactions: number;
  /** Actions that failed (reverted, RPC error, …). */
  failures: number;
  /** Successful transactions per action. */
  byAction: Record<string, number>;
}

export interface Simulator {
  /** Stops the loop; resolves once the in-flight transaction (if any) has finished. Safe to call more than once. */
  stop(): Promise<void>;
  stats(): SimulatorStats;
}

interface Agent {
  id: bigint;
  owner: Address;
  name: string;
  slug: string;
  uriVersion: number;
}

interface Feedback {
  agentId: bigint;
  client: Address;
  index: bigint;
  revoked: boolean;
}

interface PendingValidation {
  requestHash: Hex;
  agentId: bigint;
  validator: Address;
  /** Requests the validator will never answer stay here unanswered. */
  answerable: boolean;
}

type ActionName =
  | 'register'
  | 'feedback'
  | 'legacyFeedback'
  | 'revoke'
  | 'response'
  | 'validationRequest'
  | 'validationResponse'
  | 'setAgentURI'
  | 'setMetadata'
  | 'transfer';

const REGISTRATION_TYPE = 'https://eips.ethereum.org/EIPS/eip-8004#registration-v1';
const FIRST_NAMES = [
  'Atlas',
  'Orion',
  'Nova',
  'Sage',
  'Echo',
  'Quill',
  'Helix',
  'Vega',
  'Lumen',
  'Cobalt',
  'Kestrel',
  'Juniper',
];
const SPECIALTIES = [
  {
    role: 'Research',
    description: 'Reads papers and filings and answers questions with citations.',
    category: 'research',
  },
  {
    role: 'Trader',
    description: 'Executes DeFi swaps and rebalances portfolios within set risk limits.',
    category: 'defi',
  },
  { role: 'Scheduler', description: 'Books meetings across calendars and time zones.', category: 'productivity' },
  {
    role: 'Translator',
    description: 'Translates documents between 40 languages, keeping the formatting.',
    category: 'language',
  },
  {
    role: 'Code Reviewer',
    description: 'Reviews pull requests for bugs, security issues and style.',
    category: 'developer-tools',
  },
  {
    role: 'Data Analyst',
    description: 'Turns CSVs and SQL databases into charts and summaries.',
    category: 'analytics',
  },
  { role: 'Travel Planner', description: 'Plans trips and compares flights and hotels.', category: 'travel' },
  { role: 'Support Desk', description: 'Answers customer tickets from a knowledge base.', category: 'support' },
] as const;
const VALIDATION_TAGS = ['zkml', 'tee-attestation', 'reexecution', 'soft-finality', 'hard-finality'];
const FEEDBACK_TAG2 = ['', '', 'day', 'week', 'month', 'mcp', 'a2a'];
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const ZERO32: Hex = `0x${'00'.repeat(32)}`;
/** Feedback and agents the simulator remembers (oldest forgotten first). */
const MAX_FEEDBACK = 1_000;
const MAX_PENDING_VALIDATIONS = 200;
const MAX_ADOPTED_AGENTS = 100;

export function startSimulator(opts: SimulatorOptions): Simulator {
  const { registries } = opts;
  const random = opts.random ?? Math.random;
  const rate = Math.max(0, opts.eventsPerSecond);
  const seedAgents = Math.max(0, opts.seedAgents ?? 4);
  const log = opts.logger.child({ component: 'demo-simulator' });
  const artifacts = registries.artifacts;
  const chainId = registries.deployed.chain.id;

  // ------------------------------------------------------------------------------------------------ roles
  const deployer = registries.deployed.deployer.toLowerCase();
  const pool = registries.accounts.filter((a) => a.toLowerCase() !== deployer);
  if (pool.length < 3)
    throw new Error(`the demo simulator needs at least 3 accounts besides the deployer, got ${pool.length}`);
  const validatorCount = Math.max(1, Math.floor((pool.length * 2) / 9));
  const ownerCount = Math.max(1, Math.floor(pool.length / 3));
  const owners = pool.slice(0, ownerCount);
  const validators = pool.slice(pool.length - validatorCount);
  const clients = pool.slice(ownerCount, pool.length - validatorCount);
  const isOwnerAccount = (a: Address) => owners.some((o) => o.toLowerCase() === a.toLowerCase());

  // ------------------------------------------------------------------------------------------------ randomness
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1)); // inclusive
  const chance = (p: number) => random() < p;
  const pick = <T>(items: readonly T[]): T => items[Math.min(items.length - 1, Math.floor(random() * items.length))]!;
  const weighted = <T>(entries: readonly (readonly [T, number])[]): T => {
    const total = entries.reduce((s, [, w]) => s + w, 0);
    let r = random() * total;
    for (const [value, w] of entries) {
      if ((r -= w) < 0) return value;
    }
    return entries[entries.length - 1]![0];
  };

  // ------------------------------------------------------------------------------------------------ model
  const agents: Agent[] = [];
  const feedback: Feedback[] = [];
  const pending: PendingValidation[] = [];
  let counter = 0; // makes names, URIs and request hashes unique within a run
  let lastBlock = 0n; // makes them unique across runs on a persisted chain

  const counters = { transactions: 0, failures: 0, byAction: {} as Record<string, number> };

  const events = <T>(receipt: TransactionReceipt, abi: Abi, eventName: string): T[] =>
    parseEventLogs({ abi, logs: receipt.logs, eventName }).map((e) => e.args as T);

  const fakeCid = (seed: string) => {
    const hash = keccak256(stringToHex(seed)).slice(2);
    let out = 'bafkrei';
    for (let i = 0; out.length < 59; i++) out += BASE32[parseInt(hash.slice(i % 64, (i % 64) + 2), 16) % 32];
    return out;
  };
  const contentHash = (content: string): Hex => keccak256(stringToHex(content));

  const endpoints = (agent: Pick<Agent, 'slug'>) => ({
    web: `https://${agent.slug}.agents.example/`,
    mcp: `https://${agent.slug}.agents.example/mcp`,
    a2a: `https://${agent.slug}.agents.example/.well-known/agent-card.json`,
  });

  const registrationFile = (agent: Pick<Agent, 'slug' | 'name'>, agentId: bigint | undefined, description: string) => {
    const ep = endpoints(agent);
    const services: { name: string; endpoint: string; version?: string }[] = [{ name: 'web', endpoint: ep.web }];
    if (chance(0.85)) services.push({ name: 'MCP', endpoint: ep.mcp, version: '2025-06-18' });
    if (chance(0.7)) services.push({ name: 'A2A', endpoint: ep.a2a, version: '0.3.0' });
    if (chance(0.2)) services.push({ name: 'email', endpoint: `${agent.slug}@agents.example` });
    return {
      type: REGISTRATION_TYPE,
      name: agent.name,
      description,
      image: `https://${agent.slug}.agents.example/avatar.png`,
      services,
      x402Support: chance(0.4),
      active: true,
      registrations:
        agentId === undefined
          ? []
          : [{ agentId: Number(agentId), agentRegistry: `eip155:${chainId}:${registries.deployed.identity}` }],
      supportedTrust: chance(0.5) ? ['reputation'] : ['reputation', pick(['crypto-economic', 'tee-attestation'])],
    };
  };

  const agentURI = (
    agent: Pick<Agent, 'slug' | 'name'>,
    agentId: bigint | undefined,
    description: string,
    version: number,
  ) => {
    const kind = weighted([
      ['data', 45],
      ['ipfs', 30],
      ['https', 25],
    ] as const);
    if (kind === 'data') {
      const json = JSON.stringify(registrationFile(agent, agentId, description));
      return `data:application/json;base64,${Buffer.from(json, 'utf8').toString('base64')}`;
    }
    if (kind === 'ipfs') return `ipfs://${fakeCid(`${agent.slug}:${version}:${counter}:${lastBlock}`)}`;
    return `https://${agent.slug}.agents.example/.well-known/agent-registration.json${version > 1 ? `?v=${version}` : ''}`;
  };

  const remember = (receipt: TransactionReceipt) => {
    if (receipt.blockNumber > lastBlock) lastBlock = receipt.blockNumber;
  };

  // ------------------------------------------------------------------------------------------------ actions
  const register = async () => {
    const owner = pick(owners);
    const specialty = pick(SPECIALTIES);
    const n = ++counter;
    const name = `${pick(FIRST_NAMES)} ${specialty.role}`;
    const slug = `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${n}`;
    // The registration file names its own agentId: agentIds are sequential, so the next one is totalSupply().
    const nextId = (await registries.publicClient.readContract({
      address: registries.deployed.identity,
      abi: artifacts.IdentityRegistry.abi,
      functionName: 'totalSupply',
    })) as bigint;
    const uri = agentURI({ slug, name }, nextId, specialty.description, 1);
    const metadata: MetadataEntry[] = [];
    if (chance(0.75)) metadata.push({ metadataKey: 'category', metadataValue: stringToHex(specialty.category) });
    if (chance(0.5))
      metadata.push({ metadataKey: 'version', metadataValue: stringToHex(`1.${int(0, 9)}.${int(0, 20)}`) });
    if (chance(0.3))
      metadata.push({ metadataKey: 'pricing', metadataValue: stringToHex(`${int(1, 50) / 100} USDC/call`) });
    const receipt = await registries.register(owner, uri, metadata.length ? metadata : undefined);
    remember(receipt);
    const [registered] = events<{ agentId: bigint; owner: Address }>(
      receipt,
      artifacts.IdentityRegistry.abi,
      'Registered',
    );
    if (!registered) throw new Error(`register: no Registered event in tx ${receipt.transactionHash}`);
    agents.push({ id: registered.agentId, owner, name, slug, uriVersion: 1 });
    log.debug({ agentId: registered.agentId.toString(), owner, uri: uri.slice(0, 80) }, 'registered agent');
  };

  const giveFeedback = async () => {
    const agent = pick(agents);
    const client = pick(clients);
    const kind = weighted([
      ['starred', 40],
      ['uptime', 14],
      ['successRate', 12],
      ['responseTime', 12],
      ['reachable', 8],
      ['tradingYield', 8],
      ['quality', 6],
    ] as const);
    let value: bigint;
    let valueDecimals = 0;
    switch (kind) {
      case 'starred': // 0–100, mostly good
        value = BigInt(chance(0.8) ? int(60, 100) : int(0, 59));
        break;
      case 'uptime': // percentage with 2 decimals, 95.00–100.00
        value = BigInt(int(9_500, 10_000));
        valueDecimals = 2;
        break;
      case 'successRate': // percentage with 2 decimals
        value = BigInt(int(7_000, 10_000));
        valueDecimals = 2;
        break;
      case 'responseTime': // milliseconds
        value = BigInt(int(80, 2_500));
        break;
      case 'reachable': // 1 or 0
        value = chance(0.9) ? 1n : 0n;
        break;
      case 'tradingYield': // percentage with 2 decimals, sometimes negative: -15.00 … +40.00
        value = BigInt(int(-1_500, 4_000));
        valueDecimals = 2;
        break;
      case 'quality': // occasionally a clearly negative rating
        value = BigInt(chance(0.5) ? int(-100, -1) : int(1, 100));
        break;
    }
    const tag2 = pick(FEEDBACK_TAG2);
    const ep = endpoints(agent);
    const endpoint = weighted([
      [ep.mcp, 60],
      [ep.a2a, 20],
      ['', 20],
    ] as const);
    let feedbackURI = '';
    let feedbackHash = ZERO32;
    if (chance(0.5)) {
      const file = JSON.stringify({
        agentRegistry: `eip155:${chainId}:${registries.deployed.identity}`,
        agentId: Number(agent.id),
        clientAddress: `eip155:${chainId}:${client}`,
        value: value.toString(),
        valueDecimals,
        tag1: kind,
        tag2,
        endpoint,
      });
      feedbackURI = `ipfs://${fakeCid(`${file}:${++counter}:${lastBlock}`)}`;
      feedbackHash = contentHash(file);
    }
    const receipt = await registries.giveFeedback(client, {
      agentId: agent.id,
      value,
      valueDecimals,
      tag1: kind,
      tag2,
      endpoint,
      feedbackURI,
      feedbackHash,
    });
    remember(receipt);
    const [fb] = events<{ feedbackIndex: bigint }>(receipt, artifacts.ReputationRegistry.abi, 'NewFeedback');
    if (fb) {
      feedback.push({ agentId: agent.id, client, index: fb.feedbackIndex, revoked: false });
      if (feedback.length > MAX_FEEDBACK) feedback.splice(0, feedback.length - MAX_FEEDBACK);
    }
  };

  const legacyFeedback = async () => {
    const agent = pick(agents);
    const client = pick(clients);
    const fileuri = chance(0.5) ? `ipfs://${fakeCid(`legacy:${++counter}:${lastBlock}`)}` : '';
    const receipt = await registries.legacyGiveFeedback(client, {
      agentId: agent.id,
      score: chance(0.8) ? int(60, 100) : int(0, 59),
      tag1: pad(stringToHex(pick(['quality', 'speed', 'accuracy'])), { dir: 'right', size: 32 }),
      tag2: ZERO32,
      fileuri,
      filehash: fileuri ? contentHash(fileuri) : ZERO32,
    });
    remember(receipt);
  };

  const revoke = async () => {
    const open = feedback.filter((f) => !f.revoked);
    const fb = pick(open);
    const receipt = await registries.revokeFeedback(fb.client, fb.agentId, fb.index);
    remember(receipt);
    fb.revoked = true;
  };

  const respond = async () => {
    const fb = pick(feedback.slice(-50));
    const agent = agents.find((a) => a.id === fb.agentId);
    const responder = agent?.owner ?? pick(owners);
    const text = `response:${fb.agentId}:${fb.client}:${fb.index}:${++counter}:${lastBlock}`;
    const responseURI = chance(0.6)
      ? `ipfs://${fakeCid(text)}`
      : `https://${agent?.slug ?? 'agent'}.agents.example/responses/${counter}`;
    const receipt = await registries.appendResponse(responder, {
      agentId: fb.agentId,
      clientAddress: fb.client,
      feedbackIndex: fb.index,
      responseURI,
      responseHash: contentHash(text),
    });
    remember(receipt);
  };

  const requestValidation = async () => {
    const agent = pick(agents);
    const validator = pick(validators);
    const n = ++counter;
    const requestHash = keccak256(
      encodeAbiParameters(
        [{ type: 'uint256' }, { type: 'uint256' }, { type: 'uint256' }, { type: 'uint256' }],
        [agent.id, BigInt(n), lastBlock, BigInt(int(0, 2 ** 31))],
      ),
    );
    const requestURI = `ipfs://${fakeCid(`request:${requestHash}`)}`;
    const receipt = await registries.validationRequest(agent.owner, {
      validator,
      agentId: agent.id,
      requestURI,
      requestHash,
    });
    remember(receipt);
    pending.push({ requestHash, agentId: agent.id, validator, answerable: chance(0.8) });
    if (pending.length > MAX_PENDING_VALIDATIONS) pending.splice(0, pending.length - MAX_PENDING_VALIDATIONS);
  };

  const respondValidation = async () => {
    const answerable = pending.filter((p) => p.answerable);
    const req = pick(answerable);
    const response = chance(0.85) ? int(70, 100) : int(0, 40);
    const text = `validation:${req.requestHash}:${response}:${++counter}`;
    const receipt = await registries.validationResponse(req.validator, {
      requestHash: req.requestHash,
      response,
      responseURI: `ipfs://${fakeCid(text)}`,
      responseHash: contentHash(text),
      tag: pick(VALIDATION_TAGS),
    });
    remember(receipt);
    // Validators may respond more than once (progressive validation): keep some requests open for a follow-up.
    if (!chance(0.25)) pending.splice(pending.indexOf(req), 1);
  };

  const updateURI = async () => {
    const agent = pick(agents);
    agent.uriVersion += 1;
    const specialty = SPECIALTIES.find((s) => agent.name.endsWith(s.role)) ?? SPECIALTIES[0];
    const uri = agentURI(agent, agent.id, `${specialty.description} (v${agent.uriVersion})`, agent.uriVersion);
    const receipt = await registries.setAgentURI(agent.owner, agent.id, uri);
    remember(receipt);
  };

  const updateMetadata = async () => {
    const agent = pick(agents);
    const [key, value] = weighted([
      [['status', pick(['online', 'online', 'degraded', 'maintenance'])], 40],
      [['version', `1.${int(0, 9)}.${int(0, 20)}`], 25],
      [['pricing', `${int(1, 50) / 100} USDC/call`], 20],
      [['region', pick(['eu-west', 'us-east', 'ap-south'])], 15],
    ] as const);
    const receipt = await registries.setMetadata(agent.owner, agent.id, key, stringToHex(value));
    remember(receipt);
  };

  const transfer = async () => {
    const agent = pick(agents);
    const to = pick(owners.filter((o) => o.toLowerCase() !== agent.owner.toLowerCase()));
    const receipt = await registries.transfer(agent.owner, to, agent.id);
    remember(receipt);
    agent.owner = to;
  };

  const actions: Record<ActionName, () => Promise<void>> = {
    register,
    feedback: giveFeedback,
    legacyFeedback,
    revoke,
    response: respond,
    validationRequest: requestValidation,
    validationResponse: respondValidation,
    setAgentURI: updateURI,
    setMetadata: updateMetadata,
    transfer,
  };

  const nextAction = (): ActionName => {
    if (agents.length === 0) return 'register';
    const candidates: [ActionName, number][] = [
      ['feedback', 50],
      ['legacyFeedback', 2],
      ['validationRequest', 9],
      ['setAgentURI', 4],
      ['setMetadata', 5],
      ['register', agents.length < 40 ? 3 : 0.5],
    ];
    if (feedback.some((f) => !f.revoked)) candidates.push(['revoke', 5]);
    if (feedback.length > 0) candidates.push(['response', 8]);
    if (pending.some((p) => p.answerable)) candidates.push(['validationResponse', 12]);
    if (owners.length > 1) candidates.push(['transfer', 1]);
    return weighted(candidates);
  };

  /** Agents registered by earlier runs on a persisted chain, owned by our owner accounts. */
  const adoptExistingAgents = async () => {
    const identity = { address: registries.deployed.identity, abi: artifacts.IdentityRegistry.abi };
    const total = (await registries.publicClient.readContract({ ...identity, functionName: 'totalSupply' })) as bigint;
    const from = total > BigInt(MAX_ADOPTED_AGENTS) ? total - BigInt(MAX_ADOPTED_AGENTS) : 0n;
    for (let id = from; id < total; id++) {
      const owner = (await registries.publicClient.readContract({
        ...identity,
        functionName: 'ownerOf',
        args: [id],
      })) as Address;
      if (!isOwnerAccount(owner)) continue;
      const specialty = SPECIALTIES[Number(id % BigInt(SPECIALTIES.length))]!;
      const name = `${FIRST_NAMES[Number(id % BigInt(FIRST_NAMES.length))]} ${specialty.role}`;
      agents.push({ id, owner, name, slug: `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-a${id}`, uriVersion: 1 });
    }
    const head = await registries.publicClient.getBlockNumber({ cacheTime: 0 });
    if (head > lastBlock) lastBlock = head;
  };

  // ------------------------------------------------------------------------------------------------ loop
  let stopped = false;
  let wake: (() => void) | undefined;
  let consecutiveFailures = 0;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (stopped) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  const run = async (name: ActionName) => {
    try {
      await actions[name]();
      counters.transactions += 1;
      counters.byAction[name] = (counters.byAction[name] ?? 0) + 1;
      consecutiveFailures = 0;
    } catch (err) {
      counters.failures += 1;
      consecutiveFailures += 1;
      log.warn({ err, action: name }, 'demo transaction failed');
    }
  };

  const loop = async () => {
    try {
      await adoptExistingAgents();
    } catch (err) {
      log.warn({ err }, 'could not read the agents already on the demo chain');
    }
    for (let i = 0; i < seedAgents && !stopped; i++) await run('register');
    log.info(
      {
        agents: agents.length,
        owners: owners.length,
        clients: clients.length,
        validators: validators.length,
        eventsPerSecond: rate,
      },
      'demo simulator seeded',
    );
    if (rate === 0) {
      while (!stopped) await sleep(60_000);
      return;
    }
    const interval = 1_000 / rate;
    let next = Date.now();
    while (!stopped) {
      await run(nextAction());
      next += interval;
      const now = Date.now();
      if (next < now - 1_000) next = now; // after a stall, resume the rate instead of bursting to catch up
      const backoff = consecutiveFailures > 0 ? Math.min(5_000, 100 * 2 ** Math.min(consecutiveFailures, 6)) : 0;
      const delay = Math.max(next - now, backoff);
      if (delay > 0) await sleep(delay);
    }
  };

  const done = loop().catch((err: unknown) => log.error({ err }, 'demo simulator loop crashed'));
  log.info({ eventsPerSecond: rate, seedAgents }, 'demo simulator started');

  let stopping: Promise<void> | undefined;
  return {
    stop() {
      if (!stopping) {
        stopped = true;
        wake?.();
        stopping = done.then(() => log.info({ ...counters, byAction: undefined }, 'demo simulator stopped'));
      }
      return stopping;
    },
    stats() {
      return { transactions: counters.transactions, failures: counters.failures, byAction: { ...counters.byAction } };
    },
  };
}

/** A small seeded generator (mulberry32) for reproducible simulations. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
