import { defineConfig } from 'vitest/config';

/**
 * Test files that need no server: pure rules, the CLI's help, settings. They run in the "unit" project,
 * which starts nothing (npm run test:unit); every other file runs in "server", on the servers
 * test/globalSetup.ts starts. A file here must not import test/helpers.ts, test/temporal.ts or another
 * harness module that injects the servers' addresses.
 */
const UNIT = [
  'test/cli-help.test.ts',
  'test/config.test.ts',
  'test/cron.test.ts',
  'test/duration.test.ts',
  'test/naming.test.ts',
  'test/pg-tool-choice.test.ts',
  'test/retention.test.ts',
  'test/schedules.test.ts',
  'test/sdk-pins.test.ts',
  'test/worker-metrics.test.ts',
  'test/workflow-bundle.test.ts',
  'test/wal-layout.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      // Each file gets its own databases; the shared servers come from globalSetup.
      { extends: true, test: { name: 'server', include: ['test/**/*.test.ts'], exclude: UNIT, globalSetup: ['test/globalSetup.ts'] } },
    ],
  },
});
