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

/** How the task pays: a credit hold, one of the organization's included calls of the month, or not at all (refused). */
export type HoldOutcome = { holdId: string } | { includedCall: true } | { refused: string };

export interface A2ATaskActivities {
  /**
   * Takes one of the organization's included calls of the month while its plan has some (as every other query
   * surface does), else reserves the price in a credit hold keyed by the task; a retry finds what the first attempt
   * took. Refused when neither covers the price.
   */
  holdTaskPrice(input: A2ATaskInput): Promise<HoldOutcome>;
  markTaskWorking(taskId: string): Promise<void>;
  /**
   * Computes the answer (from the query cache when it can), metered without a debit (the hold pays; without a hold,
   * the included call the task took), and keeps it on the task. Heartbeats; a retry after a lost worker is the same metered call.
   */
  computeTaskAnswer(input: A2ATaskInput & { holdId?: string }): Promise<void>;
  /** Captures the price from the hold; returns what was charged. Idempotent by hold. */
  captureTaskPrice(input: { organizationId: string; holdId: string; amount: string }): Promise<string>;
  /**
   * Gives back what the task took to pay: its hold (by the task, when no hold id is known yet), or its included call;
   * nothing if there is none, or it was given back already.
   */
  releaseTaskHold(input: { organizationId: string; taskId: string }): Promise<void>;
  /** Writes the terminal state once; 'completed' takes the answer computeTaskAnswer kept. */
  finishA2ATask(input: { taskId: string; state: A2ATaskResult['state']; text?: string; cost?: string }): Promise<void>;
}
