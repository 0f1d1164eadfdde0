import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      '.llama-nas/',
      'coverage/',
      'trainer/',
      '**/*.d.ts',
      'src/model/onnx-proto.*',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        __dirname: 'readonly',
        console: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
      // the CLI runs TypeScript through tsx's CommonJS hook, where import() of a .ts file fails
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ImportExpression',
          message: 'use a static import (tsx CommonJS cannot import() .ts files)',
        },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // values only from the import-free modules below
              group: [
                '../src/*',
                '!../src/failures',
                '!../src/queues',
                '../activities/*',
                '../workers/*',
                'fs',
                'node:*',
                'path',
                'child_process',
              ],
              allowTypeImports: true,
              message:
                'Workflows stay deterministic: import activities, workers and src as types only (values: src/failures, src/queues) and no Node modules.',
            },
          ],
        },
      ],
    },
  },
  {
    // the values workflows may import: constants that import nothing, so the workflow bundle takes them as they are
    files: ['src/failures.ts', 'src/queues.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['*'], message: 'this module imports nothing' }] },
      ],
    },
  },
);
