/**
 * The relay's candidate triggers in memory: per registry, the triggers of each prefiltered agent and those for any
 * agent, with what else the candidates query checks (enabled, organization active, chain, event types, created before
 * the event). Finding the candidates of an event is then a map lookup instead of a query per batch.
 *
 * Kept current by NOTIFY: every trigger row change announces its id (trigger_index_changed, migration 0028) and every
 * organization change its id (organization_access_changed, 0013); the index reloads what changed. Before each lookup
 * it sends a NOTIFY of its own and waits for it to come back: notifications arrive in commit order, so every change
 * committed before the lookup has arrived by then — the index answers exactly what the query would have. When it
 * cannot vouch for that (not connected yet, the LISTEN connection lost, the barrier late), `candidates` answers
 * undefined and the caller queries instead; after a lost connection the index reloads everything.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type * as s from 'zapatos/schema';
import type { Logger } from '../logger.js';
import type { Row } from '../db/rows.js';

export const TRIGGER_INDEX_CHANNEL = 'trigger_index_changed';
const ORGANIZATION_CHANNEL = 'organization_access_changed';
const BARRIER_PREFIX = 'barrier:';

/** Where an event (or a retraction, routed like its event) goes: the fields the candidates depend on. */
export interface EventRoute {
  seq: string;
  chain: number;
  registry: string;
  type: string;
  agent: string | null;
}

/** A candidate trigger and the indexes (into the routes) of the items it is a candidate for. */
export interface Candidate {
  trigger_id: string;
  organization_id: string;
  name: string;
  chain_id: number | null;
  registry: string;
  /** triggers.updated_at as text: changes with every edit. */
  version: string;
  items: number[];
}

/** A trigger row as the index keeps it. */
type IndexRow = Row<
  s.triggers.Selectable,
  'organization_id' | 'name' | 'chain_id' | 'registry' | 'prefilter_event_types',
  { chain_id: number | null }
> & {
  trigger_id: string;
  version: string;
  start_seq: string;
  prefilter_agent_ids: string[] | null;
};

interface Indexed {
  row: IndexRow;
  startSeq: bigint;
}

interface RegistryBucket {
  byAgent: Map<string, Indexed[]>;
  anyAgent: Indexed[];
}

const INDEX_SELECT = `SELECT t.id::text AS trigger_id, t.organization_id::text AS organization_id, t.name,
    t.chain_id::float8 AS chain_id, t.registry, t.updated_at::text AS version, t.start_seq::text AS start_seq,
    t.prefilter_event_types, t.prefilter_agent_ids::text[] AS prefilter_agent_ids
  FROM triggers t JOIN organizations o ON o.id = t.organization_id AND o.is_active
  WHERE t.enabled`;

export interface CandidateIndexOptions {
  pool: pg.Pool;
  /** For the dedicated LISTEN connection. */
  databaseUrl: string;
  logger: Logger;
  /** How long a barrier NOTIFY may take to come back before the index stops vouching (then it reconnects). */
  barrierTimeoutMs?: number;
  /** Wait between connection attempts after a failure. */
  retryMs?: number;
}

export class CandidateIndex {
  private readonly log: Logger;
  private readonly triggers = new Map<string, Indexed>();
  /** Rebuilt on the first lookup after a change. */
  private buckets: Map<string, RegistryBucket> | undefined;
  private listener: pg.Client | undefined;
  private live = false;
  private connecting: Promise<boolean> | undefined;
  private nextAttempt = 0;
  private closed = false;
  private readonly changedTriggers = new Set<string>();
  private readonly changedOrganizations = new Set<string>();
  private readonly barriers = new Map<string, () => void>();

  constructor(private readonly options: CandidateIndexOptions) {
    this.log = options.logger.child({ component: 'candidate-index' });
  }

  /** Triggers held (metrics, tests). */
  get size(): number {
    return this.triggers.size;
  }

  /** The candidates of the routes, exactly as the candidates query would find them now; undefined: query instead. */
  async candidates(routes: readonly EventRoute[]): Promise<Candidate[] | undefined> {
    if (!(await this.ensureLive()) || !(await this.barrier())) return undefined;
    await this.applyChanges();
    return this.lookup(routes);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.live = false;
    await this.listener?.end().catch(() => undefined);
    this.listener = undefined;
  }

  /** The in-memory lookup (no I/O): public for the benchmark, which times it apart from the barrier. */
  lookup(routes: readonly EventRoute[]): Candidate[] {
    const buckets = (this.buckets ??= this.build());
    const found = new Map<string, Candidate>();
    routes.forEach((route, item) => {
      const bucket = buckets.get(route.registry);
      if (!bucket) return;
      const seq = BigInt(route.seq);
      const consider = (t: Indexed) => {
        const { row } = t;
        if (row.chain_id !== null && row.chain_id !== route.chain) return;
        if (seq <= t.startSeq) return;
        if (row.prefilter_event_types && !row.prefilter_event_types.includes(route.type)) return;
        let candidate = found.get(row.trigger_id);
        if (!candidate) {
          candidate = {
            trigger_id: row.trigger_id,
            organization_id: row.organization_id,
            name: row.name,
            chain_id: row.chain_id,
            registry: row.registry,
            version: row.version,
            items: [],
          };
          found.set(row.trigger_id, candidate);
        }
        candidate.items.push(item);
      };
      if (route.agent !== null) bucket.byAgent.get(route.agent)?.forEach(consider);
      bucket.anyAgent.forEach(consider);
    });
    return [...found.values()];
  }

  private build(): Map<string, RegistryBucket> {
    const buckets = new Map<string, RegistryBucket>();
    for (const t of this.triggers.values()) {
      let bucket = buckets.get(t.row.registry);
      if (!bucket) buckets.set(t.row.registry, (bucket = { byAgent: new Map(), anyAgent: [] }));
      if (t.row.prefilter_agent_ids === null) {
        bucket.anyAgent.push(t);
        continue;
      }
      for (const agent of new Set(t.row.prefilter_agent_ids)) {
        const list = bucket.byAgent.get(agent);
        if (list) list.push(t);
        else bucket.byAgent.set(agent, [t]);
      }
    }
    return buckets;
  }

  private async ensureLive(): Promise<boolean> {
    if (this.live) return true;
    if (this.closed || Date.now() < this.nextAttempt) return false;
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /** LISTEN first, then load everything: a change in between is both loaded and announced (reloading is idempotent). */
  private async connect(): Promise<boolean> {
    const client = new pg.Client({
      connectionString: this.options.databaseUrl,
      application_name: 'erc8004-relay-candidates',
    });
    const lost = (err?: Error) => {
      if (this.listener !== client) return;
      if (!this.closed) this.log.warn({ err }, 'candidate index LISTEN connection lost; querying until it is back');
      this.live = false;
      this.listener = undefined;
      void client.end().catch(() => undefined);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (n) => this.notified(n.channel, n.payload ?? ''));
    try {
      this.listener = client;
      await client.connect();
      await client.query(`LISTEN ${TRIGGER_INDEX_CHANNEL}; LISTEN ${ORGANIZATION_CHANNEL}`);
      const { rows } = await this.options.pool.query<IndexRow>(INDEX_SELECT);
      this.triggers.clear();
      for (const row of rows) this.triggers.set(row.trigger_id, { row, startSeq: BigInt(row.start_seq) });
      this.buckets = undefined;
      if (this.listener !== client || this.closed) return false;
      this.live = true;
      this.log.info({ triggers: rows.length }, 'candidate index loaded');
      return true;
    } catch (err) {
      this.log.warn({ err }, 'candidate index could not connect; querying meanwhile');
      this.nextAttempt = Date.now() + (this.options.retryMs ?? 5_000);
      if (this.listener === client) this.listener = undefined;
      await client.end().catch(() => undefined);
      return false;
    }
  }

  private notified(channel: string, payload: string): void {
    if (channel === ORGANIZATION_CHANNEL) this.changedOrganizations.add(payload);
    else if (payload.startsWith(BARRIER_PREFIX)) this.barriers.get(payload)?.();
    else this.changedTriggers.add(payload);
  }

  /** Sends a NOTIFY and waits for it: every change committed before has been announced when it is back. */
  private async barrier(): Promise<boolean> {
    const token = `${BARRIER_PREFIX}${randomUUID()}`;
    const timeoutMs = this.options.barrierTimeoutMs ?? 2_000;
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<boolean>((resolve) => {
      this.barriers.set(token, () => resolve(true));
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      await this.options.pool.query('SELECT pg_notify($1, $2)', [TRIGGER_INDEX_CHANNEL, token]);
      const ok = await arrived;
      if (!ok && this.live) {
        this.log.warn({ timeoutMs }, 'candidate index barrier did not come back in time; reconnecting');
        this.live = false;
        const stale = this.listener;
        this.listener = undefined;
        await stale?.end().catch(() => undefined);
      }
      return ok && this.live;
    } finally {
      clearTimeout(timer);
      this.barriers.delete(token);
    }
  }

  /** Reloads the triggers that changed and those of the organizations that changed. */
  private async applyChanges(): Promise<void> {
    if (this.changedTriggers.size === 0 && this.changedOrganizations.size === 0) return;
    const triggerIds = [...this.changedTriggers];
    const organizationIds = [...this.changedOrganizations];
    this.changedTriggers.clear();
    this.changedOrganizations.clear();
    let rows: IndexRow[];
    try {
      ({ rows } = await this.options.pool.query<IndexRow>(
        `${INDEX_SELECT} AND (t.id = ANY ($1::uuid[]) OR t.organization_id = ANY ($2::uuid[]))`,
        [triggerIds, organizationIds],
      ));
    } catch (err) {
      // Not applied: keep them for the next dispatch (this one fails and is retried).
      for (const id of triggerIds) this.changedTriggers.add(id);
      for (const id of organizationIds) this.changedOrganizations.add(id);
      throw err;
    }
    for (const id of triggerIds) this.triggers.delete(id);
    // Only an organization's change needs a pass over every trigger (a trigger's change is the common one).
    if (organizationIds.length > 0) {
      const organizations = new Set(organizationIds);
      for (const [id, t] of this.triggers) if (organizations.has(t.row.organization_id)) this.triggers.delete(id);
    }
    for (const row of rows) this.triggers.set(row.trigger_id, { row, startSeq: BigInt(row.start_seq) });
    this.buckets = undefined;
  }
}
