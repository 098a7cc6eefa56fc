// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * typescript-eslint's recommended type-checked rules over src/, test/ and
 * scripts: a promise nobody awaits or handles (no-floating-promises) is the
 * bug this project can least afford — an error nobody sees.
 */
export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'src/bench/report/html/assets/', '.seckill/', 'test-artifacts/', 'report.html'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: ['./tsconfig.test.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // `_name` says "deliberately unused" (a flag taken out of an object before the rest is passed on).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    // scripts/*.mjs run on Node, unchecked by tsc: no-undef needs to be told Node's globals (the .ts files have @types/node).
    files: ['scripts/**/*.mjs'],
    languageOptions: {
      globals: Object.fromEntries(
        ['process', 'console', 'performance', 'URL', 'Buffer', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'fetch'].map(
          (name) => [name, 'readonly'],
        ),
      ),
    },
  },
);
