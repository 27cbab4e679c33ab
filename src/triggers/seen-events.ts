/**
 * Which events a trigger workflow has already processed, so repeated or overlapping signals never evaluate an event
 * twice (Temporal does not deduplicate signals, and the relay delivers at least once). Per chain: a high-water mark of
 * ingest_seq plus the recent seqs below it, so an event arriving late within the window is still taken once.
 * Pure and JSON-serialisable (carried across continue-as-new).
 */
export interface SeenEventsSnapshot {
  chains: Record<string, { hwm: string; recent: string[] }>;
}

export const SEEN_WINDOW = 1_024n;

export class SeenEvents {
  private readonly chains = new Map<number, { hwm: bigint; recent: Set<bigint> }>();

  static restore(snapshot: SeenEventsSnapshot): SeenEvents {
    const seen = new SeenEvents();
    for (const [chain, { hwm, recent }] of Object.entries(snapshot.chains)) {
      seen.chains.set(Number(chain), { hwm: BigInt(hwm), recent: new Set(recent.map(BigInt)) });
    }
    return seen;
  }

  /** True when the event is new (and records it); false for a repeat. */
  add(chainId: number, seq: string): boolean {
    const n = BigInt(seq);
    let chain = this.chains.get(chainId);
    if (!chain) this.chains.set(chainId, (chain = { hwm: 0n, recent: new Set() }));
    if (n > chain.hwm) {
      chain.hwm = n;
      chain.recent.add(n);
      for (const s of chain.recent) if (s <= n - SEEN_WINDOW) chain.recent.delete(s);
      return true;
    }
    if (n <= chain.hwm - SEEN_WINDOW || chain.recent.has(n)) return false;
    chain.recent.add(n);
    return true;
  }

  has(chainId: number, seq: string): boolean {
    const chain = this.chains.get(chainId);
    if (!chain) return false;
    const n = BigInt(seq);
    return n <= chain.hwm && (n <= chain.hwm - SEEN_WINDOW || chain.recent.has(n));
  }

  highWaterMark(chainId: number): string {
    return (this.chains.get(chainId)?.hwm ?? 0n).toString();
  }

  /** The high-water mark of every chain seen. */
  highWaterMarks(): string[] {
    return [...this.chains.values()].map((c) => c.hwm.toString());
  }

  snapshot(): SeenEventsSnapshot {
    const chains: SeenEventsSnapshot['chains'] = {};
    for (const [chain, { hwm, recent }] of this.chains) {
      chains[chain] = { hwm: hwm.toString(), recent: [...recent].sort((a, b) => (a < b ? -1 : 1)).map(String) };
    }
    return { chains };
  }
}
