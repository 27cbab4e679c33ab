/**
 * Counters kept in this process's memory, exposed by GET /metrics as Prometheus counters (they start at zero when the
 * process starts; Prometheus handles the resets). For things that happen in the request path and are not worth a
 * database write: refused credentials, argon2 verifications.
 */
export class Counter {
  private readonly values = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Record<string, string> = {}, by = 1): void {
    const key = Object.entries(labels)
      .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
      .join(',');
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  /** The value for exactly these labels (0 if never incremented). */
  value(labels: Record<string, string> = {}): number {
    const key = Object.entries(labels)
      .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
      .join(',');
    return this.values.get(key) ?? 0;
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const [labels, value] of this.values)
      lines.push(labels ? `${this.name}{${labels}} ${value}` : `${this.name} ${value}`);
    return lines;
  }
}

const registry: Counter[] = [];

/** A counter of this process, listed by /metrics. */
export function counter(name: string, help: string): Counter {
  const c = new Counter(name, help);
  registry.push(c);
  return c;
}

export function registeredCounters(): readonly Counter[] {
  return registry;
}
