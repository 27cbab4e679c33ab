/**
 * What the Temporal UI shows of a trigger workflow without opening it: a static summary (the trigger's name and what it
 * watches) and static details (its conditions and destinations), set when the workflow starts. Static: an edit shows in
 * the next workflow that starts (the search attributes and memo follow edits).
 */
import { destinationOf, type ActionConfig, type ActionType } from '../actions/config.js';
import type { ConditionRow, TriggerDefinitionInput } from './definition.js';

export interface TriggerSummaryInput {
  name: string;
  registry: string;
  chainId: number | null;
  conditions?: readonly Pick<ConditionRow, 'condition_type' | 'field' | 'operator' | 'value'>[];
  actions?: readonly { action_type: ActionType; config: Record<string, unknown> }[];
}

export function triggerWatches(t: Pick<TriggerSummaryInput, 'registry' | 'chainId'>): string {
  return `${t.registry} events on ${t.chainId === null ? 'every chain' : `chain ${t.chainId}`}`;
}

/** A destination as the UI may show it: a host or chat, never a URL's path, query or headers (they may hold secrets). */
function destination(action: { action_type: ActionType; config: Record<string, unknown> }): string {
  try {
    return destinationOf(action.action_type, action.config as ActionConfig, '<agent>');
  } catch {
    return action.action_type;
  }
}

function condition(c: Pick<ConditionRow, 'condition_type' | 'field' | 'operator' | 'value'>): string {
  return [c.condition_type, c.field, c.operator, c.value].filter((part) => part !== undefined && part !== '').join(' ');
}

/** staticSummary / staticDetails of a trigger workflow's start options. */
export function triggerWorkflowSummary(t: TriggerSummaryInput): { staticSummary: string; staticDetails: string } {
  const destinations = t.actions?.map(destination) ?? [];
  const lines = [`**Trigger** ${t.name}`, `**Watches** ${triggerWatches(t)}`];
  if (t.conditions) lines.push(`**When** ${t.conditions.map(condition).join(' AND ') || 'every event'}`);
  if (t.actions) lines.push(`**Destinations** ${destinations.join(', ') || 'none (firings are recorded only)'}`);
  const to = destinations.length > 0 ? ` → ${destinations.join(', ')}` : '';
  return { staticSummary: `Trigger "${t.name}": ${triggerWatches(t)}${to}`, staticDetails: lines.join('\n\n') };
}

/** The summary of a stored trigger (its definition and actions). */
export function storedTriggerSummary(stored: {
  input: Pick<TriggerDefinitionInput, 'name' | 'registry' | 'chainId' | 'conditions'>;
  actions: readonly { action_type: ActionType; config: Record<string, unknown> }[];
}) {
  return triggerWorkflowSummary({ ...stored.input, actions: stored.actions });
}
