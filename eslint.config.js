// typescript-eslint, strict and type-checked. Lower layers must stay browser-clean: their
// product sources may not import Node built-ins (tests and Node-only packages may).
import js from '@eslint/js';
import { readFileSync } from 'node:fs';
import tseslint from 'typescript-eslint';

/** One list for lint, bundles and browser runs: the root package.json's `browserCleanLayers`. */
const browserClean = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')).browserCleanLayers;

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '**/*.mjs', '**/*.cjs', '**/scripts/**', '**/bench/**', '**/harness/**', '**/.vitepress/**', 'bench/**', 'scripts/**', 'fixtures/**', '**/*.config.*', 'eslint.config.js', '.changeset/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Numbers and bigints in messages are the norm in this domain.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // Bit manipulation of register numbers and opcodes uses enums-as-numbers freely.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Index accesses carry `!` so code stays correct if noUncheckedIndexedAccess is turned on.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      '@typescript-eslint/no-unnecessary-type-parameters': 'off',
      '@typescript-eslint/prefer-literal-enum-member': 'off',
      '@typescript-eslint/no-confusing-void-expression': 'off',
      '@typescript-eslint/no-extraneous-class': 'off',
      '@typescript-eslint/no-invalid-void-type': 'off',
      '@typescript-eslint/no-unnecessary-type-conversion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: browserClean.map((p) => `packages/${p}/src/**/*.ts`),
    ignores: ['**/*.test.ts', '**/node.ts', '**/node/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*', 'fs', 'path', 'os', 'child_process'], message: 'browser-clean layer: no Node built-ins outside tests and node entry points' }] }],
      'no-restricted-globals': ['error', 'process', 'Buffer', '__dirname', 'require'],
    },
  },
  {
    files: ['**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
