// Graceful shutdown: on SIGTERM the worker stops polling and lets running activities finish for
// WORKER_SHUTDOWN_GRACE_SECONDS; after that the SDK cancels them (reason WORKER_SHUTDOWN) and the
// server retries them elsewhere. What is tested here is the half we own: a dump cancelled mid-way
// kills pg_dump and leaves nothing that looks like a backup, so the retry starts clean. The
// signal → grace → cancel sequence itself runs inside a worker polling a real Temporal server,
// which cannot run here. (test/backup.test.ts covers a pg_dump that dies on its own.)
import fs from 'node:fs';
import path from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createActivities } from '../src/activities';
import { LocalStore } from '../src/storage/localStore';
import { createDatabase, dropDatabase, tempDir, testConfig } from './helpers';

let source: string;
beforeAll(async () => {
  source = await createDatabase('shutdown_src');
});
afterAll(async () => {
  await dropDatabase(source);
});

const quiet = () => undefined;
const logger = { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet };

describe('a worker shutting down cancels a running dump after the grace time', () => {
  it('kills pg_dump and leaves no partial file, no backup file and no manifest', async () => {
    const config = testConfig({ database: source });
    const { binDir, pidFile } = stallingPgDumpDir(config.pgBinDir!);
    config.pgBinDir = binDir;
    const dir = config.backup.dir;
    const filename = 'family_brain_manual_20260301_020000.sql.gz';
    const env = new MockActivityEnvironment({ activityType: 'dumpDatabase', workflowExecution: { workflowId: 'backup:shutdown-test', runId: 'r1' } }, { logger });
    const run = env.run(createActivities({ config }).dumpDatabase, { filename, type: 'manual' as const, format: 'plain_gzip' as const, workflowId: 'backup:shutdown-test' });
    const settled = run.then(
      () => undefined,
      (e: unknown) => e,
    );

    // The whole dump is in the partial file and pg_dump has not exited: a long dump, mid-way.
    await vi.waitFor(
      () => {
        const partial = fs.readdirSync(dir).find((f) => f.startsWith(`.${filename}.partial-`));
        expect(partial && fs.statSync(path.join(dir, partial)).size).toBeGreaterThan(1000);
        expect(fs.existsSync(pidFile)).toBe(true);
      },
      { timeout: 60_000, interval: 50 },
    );
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(alive(pid)).toBe(true);

    env.cancel('WORKER_SHUTDOWN');
    const error = await settled;
    // Ends as a cancellation the SDK reports as such, not as a dump that failed on its own.
    expect(error).toBeInstanceOf(CancelledFailure);
    expect(alive(pid)).toBe(false);
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(await new LocalStore(dir, 'family_brain').list()).toEqual([]);
  });
});

/** Whether a process with this pid still runs (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** A pg_dump that writes the real dump and then waits, as a long dump does, until it is killed; it writes its pid to a file. */
function stallingPgDumpDir(realBinDir: string): { binDir: string; pidFile: string } {
  const binDir = tempDir('stalling-bin');
  const pidFile = path.join(binDir, 'pg_dump.pid');
  for (const tool of ['psql', 'pg_restore']) fs.symlinkSync(path.join(realBinDir, tool), path.join(binDir, tool));
  fs.writeFileSync(
    path.join(binDir, 'pg_dump'),
    // `exec` keeps the pid, so the process execa kills on cancellation is the one still holding stdout.
    `#!/bin/bash\nif [ "$1" = "--version" ]; then exec "${realBinDir}/pg_dump" --version; fi\n"${realBinDir}/pg_dump" "$@" || exit $?\necho $$ > "${pidFile}"\nexec sleep 600\n`,
    { mode: 0o755 },
  );
  return { binDir, pidFile };
}
