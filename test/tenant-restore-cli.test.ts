// fbb restore <file> --tenant / --table through the CLI, in this process (--local).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/client/cli';
import { captured, createDatabase, dropDatabase, testConfig, userEnvFor, withAdmin } from './helpers';
import { notOf, of, tenantHashes } from './tenantHashes';

let db: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  db = await createDatabase('trc');
  env = { ...userEnvFor(testConfig({ database: db })), TEMPORAL_ADDRESS: '127.0.0.1:1' };
});
afterAll(async () => {
  await dropDatabase(db);
});

async function fbb(args: string[], answers?: string[]): Promise<{ code: number; stdout: string; stderr: string; asked: string[] }> {
  const io = captured();
  const asked: string[] = [];
  const prompt = answers && (async (q: string) => (asked.push(q), answers.shift() ?? ''));
  const code = await runCli(args, { stdout: io.stdout, stderr: io.stderr, env, ...(prompt ? { prompt } : {}) });
  return { code, ...io.text(), asked };
}

describe('fbb restore --tenant / --table --local', () => {
  it('shows the plan with --dry-run, then asks for the tenant id and restores only that tenant', async () => {
    const [a, b] = await withAdmin(async (c) => (await c.query<{ id: string }>('SELECT id FROM tenants ORDER BY slug')).rows.map((r) => r.id), db);
    const atBackup = await tenantHashes(db);
    const backup = await fbb(['backup', '--local', '--json']);
    expect(backup.code).toBe(0);
    const file = (JSON.parse(backup.stdout) as { filename: string }).filename;
    await withAdmin(async (c) => {
      await c.query('DELETE FROM expenses WHERE tenant_id = ANY($1)', [[a, b]]);
      await c.query("UPDATE tenants SET name = name || ' (edited)' WHERE id = ANY($1)", [[a, b]]);
    }, db);
    const changed = await tenantHashes(db);

    const dry = await fbb(['restore', file, '--tenant', a!, '--dry-run', '--local']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`^plan for tenant ${a}:\\n  table +delete +insert +update +unchanged +how its rows belong\\n  public\\.tenants +0 +0 +1 +0 +root table\\n`));
    expect(dry.stdout).toMatch(/\n {2}public\.expenses +0 +\d+ +0 +0 +column tenant_id\n/);
    expect(dry.stdout).toContain('\n  left alone: public.system_logs\n  conflicts: none\n');
    expect(dry.stdout).toContain(`restore of tenant ${a} in ${db} from ${file}: planned (dry run: nothing was changed)`);
    expect(await tenantHashes(db)).toEqual(changed);

    const run = await fbb(['restore', file, '--tenant', a!, '--local'], [a!]);
    expect(run.asked).toEqual([`Type the tenant id (${a}) to put tenant ${a} back as it was in ${file}: `]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`restore of tenant ${a} in ${db} from ${file}: success`);
    expect(run.stdout).toMatch(/verification +14 tables equal the backup's rows/);
    const after = await tenantHashes(db);
    expect(of(after, a!)).toEqual(of(atBackup, a!));
    expect(notOf(after, a!)).toEqual(notOf(changed, a!));
  });

  it('a wrong answer cancels: exit 5, nothing changed', async () => {
    const [, , c3] = await withAdmin(async (c) => (await c.query<{ id: string }>('SELECT id FROM tenants ORDER BY slug')).rows.map((r) => r.id), db);
    const file = (JSON.parse((await fbb(['backup', '--local', '--json'])).stdout) as { filename: string }).filename;
    await withAdmin((c) => c.query('DELETE FROM settings WHERE tenant_id = $1', [c3!]), db);
    const before = await tenantHashes(db);
    const run = await fbb(['restore', file, '--tenant', c3!, '--local', '--no-pre-restore-backup'], ['no']);
    expect(run.code).toBe(5);
    expect(run.stdout).toContain(`restore of tenant ${c3} in ${db} from ${file}: cancelled`);
    expect(await tenantHashes(db)).toEqual(before);
  });

  it('loads a table beside the live one with --as, without asking', async () => {
    const file = (JSON.parse((await fbb(['backup', '--local', '--json'])).stdout) as { filename: string }).filename;
    await withAdmin((c) => c.query('DELETE FROM api_keys'), db);
    const run = await fbb(['restore', file, '--table', 'public.api_keys', '--as', 'api_keys_then', '--local']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/loaded beside +public\.api_keys_then \(\d+ rows from the backup; the live table was not touched\)/);
    const counts = await withAdmin(async (c) => (await c.query('SELECT (SELECT count(*) FROM api_keys)::int AS live, (SELECT count(*) FROM api_keys_then)::int AS copy')).rows[0], db);
    expect(counts.live).toBe(0);
    expect(counts.copy).toBeGreaterThan(0);
  });

  it('refuses --as without --table, as bad input', async () => {
    const run = await fbb(['restore', 'family_brain_manual_20260101_000000.sql.gz', '--tenant', 'x', '--as', 'y', '--local', '--yes']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--as <name> goes with --table <schema.table>');
  });
});
