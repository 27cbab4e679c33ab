/**
 * What a TypeScript client imports: `import type { AppRouter } from 'erc8004-backend/client'` (package.json `exports`).
 * Types only, so a client bundles nothing of the server.
 */
export type { AppRouter } from './api/trpc/app-router.js';
