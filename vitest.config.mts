import path from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

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
  'test/tracing-unit.test.ts',
  'test/sdk-pins.test.ts',
  'test/worker-metrics.test.ts',
  'test/workflow-bundle.test.ts',
  'test/wal-layout.test.ts',
];

/**
 * Seconds the slowest server files took (vitest's own record of whole runs on the 2-core machine,
 * busy, 2026-12-06), for the order when vitest has no durations of its own: a fresh checkout (CI
 * runs npm ci) has no cache, and vitest would start the largest files first, not the slowest, and
 * then wait for a slow one started last (pitr-live, pitr-s3, up, wal-durability were not listed).
 * Files not listed count as quick.
 */
const SECONDS: Record<string, number> = {
  'test/up.test.ts': 148,
  'test/wal-durability.test.ts': 113,
  'test/basebackup-verify.test.ts': 102,
  'test/faults-kill.test.ts': 101,
  'test/tenant-restore-temporal.test.ts': 79,
  'test/cli.test.ts': 75,
  'test/pitr-live.test.ts': 74,
  'test/pitr-s3.test.ts': 70,
  'test/restore.test.ts': 62,
  'test/durability.test.ts': 61,
  'test/basebackup.test.ts': 49,
  'test/restore-flow.test.ts': 47,
  'test/faults-lock.test.ts': 44,
  'test/backup.test.ts': 44,
  'test/workers.test.ts': 44,
  'test/tenant-restore-cli.test.ts': 43,
  'test/basebackup-prune.test.ts': 43,
  'test/restore-plausibility.test.ts': 42,
  'test/durability-upload.test.ts': 41,
  'test/wal-archive.test.ts': 40,
  'test/restore-input.test.ts': 40,
  'test/cli-history.test.ts': 40,
  'test/durability-restore.test.ts': 37,
  'test/schedules-health.test.ts': 37,
  'test/durability-drill.test.ts': 37,
  'test/doctor.test.ts': 35,
  'test/durability-server.test.ts': 34,
  'test/local-e2e.test.ts': 34,
  'test/temporal-cli-docs.test.ts': 33,
  'test/workers-restore.test.ts': 32,
  'test/notify.test.ts': 29,
  'test/encryption.test.ts': 28,
};

/**
 * Slowest files first, so that the run does not end waiting for one long file started last: failed
 * ones first, then by the duration vitest remembers from an earlier run, else by SECONDS.
 */
class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const expected = (file: TestSpecification) => {
      const relative = path.relative(this.ctx.config.root, file.moduleId);
      const last = this.ctx.cache.getFileTestResults(`${file.project.name}:${relative}`);
      return { failed: last?.failed === true, ms: last?.duration ?? (SECONDS[relative] ?? 0) * 1000 };
    };
    // Array.prototype.sort is stable: files alike keep vitest's order.
    return sorted.sort((a, b) => {
      const [ea, eb] = [expected(a), expected(b)];
      return Number(eb.failed) - Number(ea.failed) || eb.ms - ea.ms;
    });
  }
}

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: true,
    // FBB_TEST_WORKERS: how many files run at once (a project's own setting wins over the CLI's --maxWorkers, so it is read here).
    maxWorkers: Number(process.env.FBB_TEST_WORKERS ?? 2),
    sequence: { sequencer: SlowestFirst },
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      // Each file gets its own databases; the shared servers come from globalSetup.
      { extends: true, test: { name: 'server', include: ['test/**/*.test.ts'], exclude: UNIT, globalSetup: ['test/globalSetup.ts'] } },
    ],
  },
});
