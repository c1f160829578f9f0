// `--local` end to end: the built CLI in a child process, as a user runs it with no Temporal server
// reachable (TEMPORAL_ADDRESS points nowhere), on the throwaway server and worker it starts itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, fbbEnv, outcome, startFbb } from './faults';
import { createDatabase, dropDatabase, fingerprint, testConfig, withAdmin } from './helpers';
import { notOf, of, tenantHashes } from './tenantHashes';

const NOTICE = 'fbb: --local: running on a throwaway Temporal server with a worker in this process. This run is not durable: if this process stops, the run is lost and nothing resumes it.\n';

let db: string;
let env: Record<string, string>;
beforeAll(async () => {
  await ensureBuilt();
  db = await createDatabase('local_e2e');
  env = fbbEnv(testConfig({ database: db }));
}, 600_000);
afterAll(async () => {
  await dropDatabase(db);
});

/** Runs the built `fbb <args>` to its end; the exit code, stdout and stderr. */
async function fbb(args: string[]): Promise<{ exit: number | undefined; stdout: string; stderr: string }> {
  const run = await startFbb(args, env);
  return { exit: outcome(run).exit, stdout: String(run.stdout), stderr: String(run.stderr) };
}

/** A verified backup of the test database, made with `fbb backup --local`; its file name. */
async function backup(): Promise<string> {
  const made = await fbb(['backup', '--local', '--json']);
  expect(made.stderr).toContain(NOTICE);
  expect(made.exit).toBe(0);
  return (JSON.parse(made.stdout) as { filename: string }).filename;
}

describe('the real CLI with --local, on its throwaway Temporal server', () => {
  it('backs up, then restores the whole database to the backup (exit 0 both times)', async () => {
    // The dump's contents: the database before the backup adds its own system_logs row.
    const atBackup = await fingerprint(db);
    const filename = await backup();
    await withAdmin((c) => c.query("INSERT INTO tags (tenant_id, name) SELECT tenant_id, 'after-backup' FROM tags LIMIT 1"), db);
    const restored = await fbb(['restore', filename, '--yes', '--local', '--json']);
    expect(restored.stderr).toContain(NOTICE);
    expect(JSON.parse(restored.stdout)).toMatchObject({ status: 'success', restored_from: filename });
    expect(restored.exit).toBe(0);
    expect(await fingerprint(db)).toEqual(atBackup);
  });

  it("restores one tenant's rows and leaves the others as they are", async () => {
    const [a, b] = await withAdmin(async (c) => (await c.query<{ id: string }>('SELECT id FROM tenants ORDER BY slug')).rows.map((r) => r.id), db);
    const atBackup = await tenantHashes(db);
    const filename = await backup();
    await withAdmin((c) => c.query('DELETE FROM expenses WHERE tenant_id = ANY($1)', [[a, b]]), db);
    const changed = await tenantHashes(db);
    const run = await fbb(['restore', filename, '--tenant', a!, '--yes', '--local']);
    expect(run.stdout).toContain(`restore of tenant ${a} in ${db} from ${filename}: success`);
    expect(run.exit).toBe(0);
    const after = await tenantHashes(db);
    expect(of(after, a!)).toEqual(of(atBackup, a!));
    expect(notOf(after, a!)).toEqual(notOf(changed, a!));
  });

  it('drills the newest backup and says it passed', async () => {
    const filename = await backup();
    const drill = await fbb(['drill', '--source', 'local', '--local', '--json']);
    expect(drill.stderr).toContain(NOTICE);
    expect(JSON.parse(drill.stdout)).toMatchObject({ status: 'passed', filename, source: 'local' });
    expect(drill.exit).toBe(0);
  });
});
