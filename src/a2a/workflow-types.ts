/**
 * The contract between the A2A task workflow (workflows/a2a-task.ts) and its activities (activities/a2a.ts). Types
 * only: the workflow bundle imports nothing else from here.
 */

/** One query task, as the API process that accepted it starts its workflow (id `a2a/{taskId}`). */
export interface A2ATaskInput {
  taskId: string;
  organizationId: string;
  /** Who asked inside the organization: 'apiKey:<id>', 'oauth:<client id>'. */
  caller: string;
  tool: string;
  /** The tool's whole input (chainId, agentId, its parameters), already validated by the API. */
  input: Record<string, unknown>;
  /** The price held before computing and captured after (USDC). */
  price: string;
}

export interface A2ATaskResult {
  state: 'completed' | 'failed' | 'canceled' | 'rejected';
  /** What the organization was charged (USDC). */
  charged: string;
}

export type HoldOutcome = { holdId: string } | { refused: string };

export interface A2ATaskActivities {
  /** Reserves the price in a credit hold keyed by the task (a retry finds the same hold); refused when not covered. */
  holdTaskPrice(input: A2ATaskInput): Promise<HoldOutcome>;
  markTaskWorking(taskId: string): Promise<void>;
  /**
   * Computes the answer (from the query cache when it can), metered without a debit (the hold pays), and keeps it on
   * the task. Heartbeats; a retry after a lost worker is the same metered call.
   */
  computeTaskAnswer(input: A2ATaskInput & { holdId: string }): Promise<void>;
  /** Captures the price from the hold; returns what was charged. Idempotent by hold. */
  captureTaskPrice(input: { organizationId: string; holdId: string; amount: string }): Promise<string>;
  /** Gives the hold back (the task's, by its key, when no hold id is known yet); nothing if there is none. */
  releaseTaskHold(input: { organizationId: string; taskId: string }): Promise<void>;
  /** Writes the terminal state once; 'completed' takes the answer computeTaskAnswer kept. */
  finishA2ATask(input: { taskId: string; state: A2ATaskResult['state']; text?: string; cost?: string }): Promise<void>;
}
