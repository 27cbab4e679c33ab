/**
 * Row types of plain parametrised SQL, derived from the zapatos schema types (src/db/zapatos/schema.d.ts, regenerated
 * by `npm run db:types`), so that a column renamed or dropped in a migration fails `npm run typecheck` wherever a query
 * reads it.
 *
 * A table's `Selectable` is what pg returns here (src/db/pool.ts): Date for timestamps, strings for int8 and numeric,
 * parsed values for json/jsonb. Rows that Postgres builds as JSON (json_build_object, json_agg) arrive as its
 * `JSONSelectable` instead: numbers for int8 and numeric, ISO strings for timestamps.
 */

/**
 * The columns `K` of a table as a query returns them. `Cast` gives the type of the columns the SQL converts
 * (`chain_id::float8 AS chain_id` is a number); they must still be columns of the table.
 */
export type Row<
  Selectable,
  K extends keyof Selectable,
  Cast extends { [P in K]?: unknown } = Record<never, never>,
> = Omit<Pick<Selectable, K>, keyof Cast> & Cast;
