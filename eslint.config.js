import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'coverage/', '.scratch/'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/store/sqlite/**', '**/store/postgres/**', '**/store/sql/**'],
              message: 'Import the store interface (store/store.ts, store/roles/), not an implementation.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/store/**', 'src/main.ts', 'test/**', 'bench/**', 'chaos/**'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // Dependencies point one way: models <- store <- delivery <- api <- server/main.
    files: ['src/models/**', 'src/store/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/delivery/**',
                '**/api/**',
                '**/services/**',
                '**/catalog/**',
                '**/alerts/**',
                '**/retention/**',
              ],
              message:
                'models and store sit below the engine and the HTTP layer: nothing here may import them.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/delivery/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/api/**', '**/services/**'],
              message: 'The delivery engine knows nothing of routes.',
            },
          ],
        },
      ],
    },
  },
  {
    // Rows read back by INSERT ... RETURNING, aggregates and lookups just written always exist.
    files: ['src/store/**', 'test/**', 'bench/**', 'chaos/**'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
