/** Search attributes of a trigger workflow, so the Temporal Web UI can filter triggers (see src/temporal/search-attributes.ts). */
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';
import type { TriggerDefinition } from './definition.js';

export const ORGANIZATION_ID = defineSearchAttributeKey('OrganizationId', SearchAttributeType.KEYWORD);
export const TRIGGER_NAME = defineSearchAttributeKey('TriggerName', SearchAttributeType.TEXT);
export const CHAIN_ID = defineSearchAttributeKey('ChainId', SearchAttributeType.INT);
export const REGISTRY = defineSearchAttributeKey('Registry', SearchAttributeType.KEYWORD);
export const ENABLED = defineSearchAttributeKey('Enabled', SearchAttributeType.BOOL);
/** When the trigger last fired, and how often (updated in batches, at most once every few seconds per trigger). */
export const LAST_FIRED_AT = defineSearchAttributeKey('LastFiredAt', SearchAttributeType.DATETIME);
export const FIRING_COUNT = defineSearchAttributeKey('FiringCount', SearchAttributeType.INT);

export function triggerSearchAttributes(
  def: Pick<TriggerDefinition, 'organizationId' | 'name' | 'chainId' | 'registry' | 'enabled'>,
): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [
    { key: ORGANIZATION_ID, value: def.organizationId },
    { key: TRIGGER_NAME, value: def.name },
    { key: REGISTRY, value: def.registry },
    { key: ENABLED, value: def.enabled },
  ];
  // All-chain triggers have no ChainId.
  if (def.chainId !== null) pairs.push({ key: CHAIN_ID, value: def.chainId });
  return pairs;
}

export function firingSearchAttributes(f: { lastFiredAt: Date; firingCount: number }): SearchAttributePair[] {
  return [
    { key: LAST_FIRED_AT, value: f.lastFiredAt },
    { key: FIRING_COUNT, value: f.firingCount },
  ];
}

export function triggerWorkflowId(triggerId: string): string {
  return `trigger/${triggerId}`;
}
