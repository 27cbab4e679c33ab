/** Runs `fn` over `items`, at most `concurrency` at a time, in order of start; rejects with the first failure. */
export async function forEachConcurrently<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(Math.max(1, concurrency), items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(lanes);
}

/** A gate whose queue is full: the caller should refuse the work now rather than wait. */
export class GateFullError extends Error {
  constructor(readonly waiting: number) {
    super(`${waiting} callers are already waiting`);
    this.name = 'GateFullError';
  }
}

/**
 * Runs work at most `concurrency` at a time; callers beyond that wait in order, at most `maxWaiting` of them, and the
 * next one is refused at once with a GateFullError (bounded memory and bounded wait under a flood).
 */
export class ConcurrencyGate {
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  /** The most runs seen in flight at once (diagnostics and tests). */
  peakInFlight = 0;

  constructor(
    readonly concurrency: number,
    readonly maxWaiting: number,
  ) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.inFlight < this.concurrency) this.inFlight++;
    else {
      if (this.waiting.length >= this.maxWaiting) throw new GateFullError(this.waiting.length);
      // The slot is handed over by the run that ends: inFlight already counts this caller.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight--;
    }
  }

  get queued(): number {
    return this.waiting.length;
  }
}
