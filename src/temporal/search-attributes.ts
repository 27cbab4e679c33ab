/**
 * Custom search attributes that make triggers findable in the Temporal Web UI
 * (e.g. `Registry = "reputation" AND Enabled = true`, or `LastFiredAt > "2026-12-08T00:00:00Z"` for the triggers that
 * fired since) and A2A tasks by tool. Registered on the dev server at start
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
  LastFiredAt: 'Datetime',
  FiringCount: 'Int',
} as const;

export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;
