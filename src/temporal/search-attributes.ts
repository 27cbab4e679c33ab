/**
 * Custom search attributes that make triggers findable in the Temporal Web UI
 * (e.g. `Registry = "reputation" AND Enabled = true`) and A2A tasks by tool. Registered on the dev server at start
 * and by the `temporal-setup` service in docker-compose.yml.
 */
export const SEARCH_ATTRIBUTES = {
  OrganizationId: 'Keyword',
  TriggerName: 'Text',
  ChainId: 'Int',
  Registry: 'Keyword',
  Enabled: 'Bool',
  /** The query tool of an A2A task workflow (`a2a/{taskId}`). */
  QueryTool: 'Keyword',
} as const;

export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;
