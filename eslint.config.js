// @ts-check
/**
 * Lint rules that catch what the compiler does not: floating or misused promises, import cycles, and imports that break
 * the layer rules (workflow code runs in Temporal's deterministic sandbox; src/ never depends on activities/).
 */
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { builtinModules } from 'node:module';
import globals from 'globals';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

/** Modules the trigger, delivery and A2A task workflows import: pure logic only, no I/O, no Node built-ins. */
const workflowSafeModules = [
  'src/a2a/workflow-types.ts',
  'src/deliveries/ids.ts',
  'src/deliveries/timing.ts',
  'src/deliveries/types.ts',
  'src/triggers/definition.ts',
  'src/triggers/drain.ts',
  'src/triggers/engine.ts',
  'src/triggers/runner.ts',
  'src/triggers/search-attributes.ts',
  'src/triggers/seen-events.ts',
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      '.data/**',
      '.temporal/**',
      'coverage/**',
      'src/db/zapatos/**',
      'src/chain/contracts/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js', 'scripts/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })] },
    rules: {
      // A timer assigned after the closure that clears it is declared is still a single assignment.
      'prefer-const': ['error', { destructuring: 'all', ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': [
        'error',
        { checksVoidReturn: { arguments: false, attributes: false } },
      ],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            // The worker (src/worker) and the process entry points (src/bin) are where activities are wired in.
            {
              target: './src/!(worker|bin)/**',
              from: './activities',
              message: 'src/ is the domain: activities/ wire it to Temporal, never the reverse.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts', ...workflowSafeModules],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({
            name,
            message: 'Workflow code runs in a deterministic sandbox without Node built-ins.',
          })),
          patterns: [
            {
              regex:
                '^(\\.\\./)+src/(?!(triggers/(definition|drain|engine|runner|search-attributes|seen-events)|deliveries/(ids|timing|types)|a2a/workflow-types)\\.js$)',
              message:
                'Workflow code may import only the workflow-safe modules of src/ (listed in eslint.config.js); anything else does I/O.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.mjs', 'eslint.config.js'],
    languageOptions: { globals: globals.node },
  },
  {
    files: ['test/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
