// Every workflow the worker registers. Workflow code is deterministic: no I/O, no clock, types-only activity imports.
export { healthWorkflow } from './health.js';
export type { HealthReport } from './health.js';
export { triggerWorkflow } from './trigger.js';
export { deliveryWorkflow } from './delivery.js';
export { deliveryDispatcherWorkflow } from './delivery-dispatcher.js';
export { maintenanceWorkflow } from './maintenance.js';
export { a2aTaskWorkflow } from './a2a-task.js';
