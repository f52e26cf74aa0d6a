// Lint rules the house style asks for: type-aware checks on promises, exhaustive switches
// and type-only imports, on top of the recommended sets.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import noImportCycle from './eslint-rules/no-import-cycle.js';

const NO_SANDBOX = 'The product never imports the sandbox: compose it in src/dev.ts or src/dev/ and pass an Upstream (src/upstream.ts).';

export default tseslint.config(
  { ignores: ['node_modules/', 'coverage/', 'bench/results/', 'dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The product never imports the sandbox: only the development entry (src/dev.ts, src/dev/)
    // composes it with the service. Tests import it freely.
    files: ['src/**/*.ts'],
    ignores: ['src/sandbox/**', 'src/dev.ts', 'src/dev/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '(^|/)sandbox(/|$)', message: NO_SANDBOX }] }],
      // no-restricted-imports does not see dynamic import(): the same rule for those.
      'no-restricted-syntax': ['error', { selector: 'ImportExpression[source.value=/(^|\\/)sandbox(\\/|$)/]', message: NO_SANDBOX }],
    },
  },
  {
    // Layers import downwards only (README, Architecture): a cycle, even of types, means one
    // reaches back up. import-x/no-cycle would skip type-only imports; this rule counts them.
    files: ['src/**/*.ts'],
    plugins: { house: { rules: { 'no-import-cycle': noImportCycle } } },
    rules: { 'house/no-import-cycle': ['error', { root: 'src' }] },
  },
  { files: ['eslint.config.js', 'eslint-rules/**'], ...tseslint.configs.disableTypeChecked },
);
