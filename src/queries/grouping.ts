/** Deterministic ordering and grouping for answers: the same rows always give the same bytes, whatever the locale. */

/** UTF-16 code unit order (canonical JSON's key order), not locale order. */
export function compareCodeUnits(a: string, b: string): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Rows grouped by a key, groups in first-seen order, rows in their order. */
export function groupBy<T>(rows: readonly T[], key: (row: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    const list = groups.get(k);
    if (list) list.push(row);
    else groups.set(k, [row]);
  }
  return groups;
}

/** Rows grouped by a key, groups ordered by key (code units). */
export function groupSorted<T>(rows: readonly T[], key: (row: T) => string): [string, T[]][] {
  return [...groupBy(rows, key).entries()].sort(([a], [b]) => compareCodeUnits(a, b));
}
