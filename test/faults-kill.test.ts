// Issue 12, "kills leave the database stuck": the real CLI restores in a child process that is
// paused at the moment in question (FBB_TEST_PAUSE_AT) and killed there with SIGKILL.
import fs from 'node:fs';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { lockPath } from '../src/activities/backup/lock';
import { alive, ensureBuilt, fbbEnv, outcome, runFbb, startFbb, waitFor } from './faults';
import { createDatabase, dropDatabase, fingerprint, testConfig, withAdmin } from './helpers';

beforeAll(async () => {
  await ensureBuilt();
}, 600_000);

/** The pids of `pid`'s child processes running the Temporal CLI (a --local run's throwaway server). */
async function temporalChildren(pid: number): Promise<number[]> {
  const { stdout } = await execa('ps', ['--ppid', String(pid), '-o', 'pid=,comm='], { reject: false });
  return stdout.split('\n').map((l) => l.trim().split(/\s+/)).filter(([, comm]) => comm === 'temporal').map(([p]) => Number(p));
}

/** Starts `fbb` paused at `point` and kills it there with SIGKILL; its throwaway Temporal server dies with it. */
async function killAt(point: string, args: string[], env: Record<string, string>): Promise<void> {
  const run = startFbb(args, { ...env, FBB_TEST_PAUSE_AT: point });
  let stderr = '';
  run.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitFor(`the pause at ${point}`, () => stderr.includes(`test pause at ${point}`), run);
  const servers = await temporalChildren(run.pid!);
  expect(servers).toHaveLength(1);
  process.kill(run.pid!, 'SIGKILL');
  const result = await run;
  expect(result.signal).toBe('SIGKILL');
  await waitFor('the throwaway Temporal server to die with the killed fbb', () => (servers.some(alive) ? undefined : true));
}

async function databasesLike(prefix: string): Promise<{ datname: string; datallowconn: boolean }[]> {
  const { rows } = await withAdmin((c) => c.query<{ datname: string; datallowconn: boolean }>('SELECT datname, datallowconn FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname', [prefix]));
  return rows;
}

describe('a restore killed inside the swap (SIGKILL)', () => {
  it('leaves the live database accepting connections with its data; the next backup takes over the dead run\'s lock and removes its half-made database', async () => {
    const database = await createDatabase('swapkill');
    try {
      const config = testConfig({ database });
      const env = fbbEnv(config);
      const backup = await runFbb(['backup', '--local', '--json', '--no-cleanup'], env);
      expect(outcome(backup)).toMatchObject({ exit: 0 });
      const { filename } = JSON.parse(backup.stdout) as { filename: string };
      await withAdmin((c) => c.query("INSERT INTO tags (tenant_id, name) SELECT tenant_id, 'after-backup' FROM tags LIMIT 1"), database);
      const before = await fingerprint(database);

      await killAt('swap', ['restore', filename, '--yes', '--local', '--no-pre-restore-backup'], env);

      // The live database is the one it was, and takes connections.
      expect(await databasesLike(database)).toContainEqual({ datname: database, datallowconn: true });
      expect(await fingerprint(database)).toEqual(before);
      expect(fs.existsSync(lockPath(config))).toBe(true);

      // The next run is not blocked by the dead run's lock, and cleans up after it (in this process: nothing kills it).
      const next = await runFbb(['backup', '--local', '--json', '--no-cleanup'], env);
      expect(outcome(next), next.stderr).toMatchObject({ exit: 0 });
      expect(next.stderr).toMatch(/took over the lock of restore .* \(pid \d+ on .*, no longer running\)/);
      expect(next.stderr).toMatch(new RegExp(`removed leftover database ${database}_restoring_\\d{8}_\\d{6}`));
      expect((await databasesLike(database)).map((d) => d.datname)).toEqual([database]);
      expect(fs.existsSync(lockPath(config))).toBe(false);
    } finally {
      for (const d of await databasesLike(database)) await dropDatabase(d.datname);
    }
  });
});
