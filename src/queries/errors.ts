/** What the query layer refuses, with codes the API maps to HTTP statuses (src/api/trpc/errors.ts). */
export type QueryErrorCode =
  /** No indexer has written this chain (unknown chain id, or not indexed yet): 404. */
  | 'chain_not_indexed'
  /** `asOfBlock` is above the chain's indexed, confirmed head: 400 naming the head. */
  | 'block_not_indexed'
  /** The block's hash is no longer known here (pruned, and no RPC to ask): 400. */
  | 'block_hash_unknown'
  /** Parameters that pass the schema but make no sense together (a window that ends before it starts): 400. */
  | 'invalid_params'
  /** The tool name is not one of ours: 404. */
  | 'unknown_tool';

export class QueryError extends Error {
  constructor(
    readonly code: QueryErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'QueryError';
  }
}

export function isQueryError(err: unknown, code?: QueryErrorCode): err is QueryError {
  return err instanceof QueryError && (code === undefined || err.code === code);
}
