// restoreTenant and restoreTable on the real Temporal dev server with a real Worker: a real backup,
// the plan in the status query, confirmation by signal, dry run, refusal, table restore both ways.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/client/cli';
import type { Config } from '../src/config';
import { backupDatabase, confirmRestore, partialStatusQuery, restoreTable, restoreTenant } from '../src/workflows';
import { captured, createDatabase, testConfig, uniqueName, userEnvFor, withAdmin } from './helpers';
import { onTemporal, startTestWorker, temporalInfo, testClient, type TestWorker } from './temporal';
import { notOf, of, tenantHashes } from './tenantHashes';

const id = (label: string) => uniqueName(label).replace(/_/g, '-');
let live: string;
let config: Config;
let worker: TestWorker;

beforeAll(async () => {
  live = await createDatabase('trt_live');
  config = onTemporal(testConfig({ database: live }));
  worker = await startTestWorker(config);
});
afterAll(async () => {
  await worker?.stop();
  await withAdmin(async (c) => {
    const { rows } = await c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'fbb_trt_%'");
    for (const { datname } of rows) await c.query(`DROP DATABASE "${datname}" WITH (FORCE)`);
  });
});

/** A verified backup of the live database, made by the backupDatabase workflow. */
async function backup(): Promise<string> {
  const client = await testClient();
  const result = await client.workflow.execute(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: id('trt-backup'), args: [{ cleanup_old: false }] });
  return result.filename;
}

const tenants = () => withAdmin(async (c) => (await c.query<{ id: string }>('SELECT id FROM tenants ORDER BY slug')).rows.map((r) => r.id), live);
const scratchCopies = () => withAdmin(async (c) => (await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${live}_partial_%`])).rows.map((r) => r.datname));

describe('restoreTenant and restoreTable on the Temporal dev server', () => {
  it('plans, waits for confirmRestore with the plan in its status, restores one tenant and leaves the other as changed', async () => {
    const [a, b] = await tenants();
    const atBackup = await tenantHashes(live);
    const file = await backup();
    await withAdmin(async (c) => {
      for (const [t, label] of [[a!, 'one'], [b!, 'two']] as const) {
        await c.query(`UPDATE users SET display_name = display_name || ' ${label}' WHERE tenant_id = $1`, [t]);
        await c.query('DELETE FROM chat_sessions WHERE id = (SELECT min(id::text)::uuid FROM chat_sessions WHERE tenant_id = $1)', [t]);
        await c.query(`INSERT INTO tags (tenant_id, name) VALUES ($1, 'new ${label}')`, [t]);
      }
    }, live);
    const changed = await tenantHashes(live);
    const client = await testClient();
    const handle = await client.workflow.start(restoreTenant, { taskQueue: config.temporal.taskQueue, workflowId: id('trt-tenant'), args: [{ backup_filename: file, tenant_id: a! }] });
    let status = await handle.query(partialStatusQuery);
    while (status.phase !== 'awaiting_confirmation' && status.phase !== 'done') {
      await new Promise((r) => setTimeout(r, 300));
      status = await handle.query(partialStatusQuery);
    }
    expect(status.phase).toBe('awaiting_confirmation');
    // The pre-restore backup is made once confirmed, right before the change.
    expect(status.pre_restore_backup).toBeNull();
    expect(status.plan!.tables.find((t) => t.table === 'public.chat_sessions')).toMatchObject({ insert: 1, delete: 0 });
    expect(status.plan!.tables.find((t) => t.table === 'public.chat_messages')!.insert).toBeGreaterThan(0);
    expect(status.plan!.tables.find((t) => t.table === 'public.tags')).toMatchObject({ delete: 1 });
    expect(await tenantHashes(live)).toEqual(changed);
    await handle.signal(confirmRestore, { confirmed_by: 'test' });
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'success', kind: 'tenant', target: a, confirmed_by: 'test', error: null });
    expect(result.pre_restore_backup).toMatch(/^family_brain_pre_restore_\d{8}_\d{6}\.sql\.gz$/);
    expect(result.applied!.verification.ok).toBe(true);
    const after = await tenantHashes(live);
    expect(of(after, a!)).toEqual(of(atBackup, a!));
    expect(of(after, b!)).toEqual(of(changed, b!));
    expect(notOf(after, a!)).toEqual(notOf(changed, a!));
    expect(await scratchCopies()).toEqual([]);
  });

  it('fbb restore cancel stops a tenant restore awaiting confirmation, and the database is not changed', async () => {
    const [a] = await tenants();
    const file = await backup();
    await withAdmin((c) => c.query("UPDATE users SET display_name = display_name || ' later' WHERE tenant_id = $1", [a]), live);
    const before = await tenantHashes(live);
    const client = await testClient();
    const workflowId = id('trt-cancel');
    const handle = await client.workflow.start(restoreTenant, { taskQueue: config.temporal.taskQueue, workflowId, args: [{ backup_filename: file, tenant_id: a! }] });
    while ((await handle.query(partialStatusQuery)).phase !== 'awaiting_confirmation') await new Promise((r) => setTimeout(r, 300));
    const io = captured();
    const env = { ...userEnvFor(config), TEMPORAL_ADDRESS: temporalInfo.address, TEMPORAL_NAMESPACE: temporalInfo.namespace, TEMPORAL_TASK_QUEUE: config.temporal.taskQueue };
    const code = await runCli(['restore', 'cancel', workflowId], { stdout: io.stdout, stderr: io.stderr, env });
    expect(io.text()).toMatchObject({ stdout: `cancelled ${workflowId}: the restore is now in phase done (status cancelled); follow it with: fbb status ${workflowId}\n` });
    expect(code).toBe(0);
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'cancelled', error: { type: 'RestoreCancelled' } });
    expect(await tenantHashes(live)).toEqual(before);
    expect(await scratchCopies()).toEqual([]);
  });

  it('a dry run shows the plan and changes nothing', async () => {
    const [, , c3] = await tenants();
    const file = await backup();
    await withAdmin((c) => c.query('DELETE FROM reminders WHERE tenant_id = $1', [c3!]), live);
    const before = await tenantHashes(live);
    const client = await testClient();
    const result = await client.workflow.execute(restoreTenant, { taskQueue: config.temporal.taskQueue, workflowId: id('trt-dry'), args: [{ backup_filename: file, tenant_id: c3!, dry_run: true }] });
    expect(result.status).toBe('planned');
    expect(result.pre_restore_backup).toBeNull();
    expect(result.plan!.tables.find((t) => t.table === 'public.reminders')!.insert).toBeGreaterThan(0);
    expect(result.plan!.left_alone).toEqual(['public.system_logs']);
    expect(await tenantHashes(live)).toEqual(before);
    expect(await scratchCopies()).toEqual([]);
  });

  it('refuses a tenant whose backup rows now conflict with another tenant, with the error named and nothing changed', async () => {
    const [a, , , d] = await tenants();
    const file = await backup();
    await withAdmin(async (c) => {
      const { rows } = await c.query<{ slug: string }>('SELECT slug FROM tenants WHERE id = $1', [a!]);
      await c.query("UPDATE tenants SET slug = slug || '-old' WHERE id = $1", [a!]);
      await c.query('UPDATE tenants SET slug = $1 WHERE id = $2', [rows[0]!.slug, d!]);
    }, live);
    const before = await tenantHashes(live);
    const client = await testClient();
    const result = await client.workflow.execute(restoreTenant, { taskQueue: config.temporal.taskQueue, workflowId: id('trt-refuse'), args: [{ backup_filename: file, tenant_id: a!, confirm_restore: true }] });
    expect(result.status).toBe('refused');
    expect(result.error!.type).toBe('TenantRestoreConflict');
    expect(result.error!.message).toContain(`public.tenants key_taken (tenants_slug_key): 1 of the backup's rows have a tenants_slug_key key (slug) now held by tenant ${d!}`);
    expect(result.pre_restore_backup).toBeNull();
    expect(await tenantHashes(live)).toEqual(before);
  });

  it('restores one table in place, and another beside the live one under a new name', async () => {
    const reminders = () => withAdmin(async (c) => (await c.query('SELECT json_agg(r ORDER BY id)::text AS j FROM reminders r')).rows[0].j as string, live);
    const atBackup = await reminders();
    const file = await backup();
    await withAdmin(async (c) => {
      await c.query('DELETE FROM reminders WHERE id % 4 = 0');
      await c.query("UPDATE reminders SET title = title || ' (moved)' WHERE id % 4 = 1");
    }, live);
    const changed = await reminders();
    const otherTables = await tenantHashes(live).then((h) => Object.entries(h).filter(([k]) => !k.startsWith('public.reminders')));
    const client = await testClient();
    const beside = await client.workflow.execute(restoreTable, { taskQueue: config.temporal.taskQueue, workflowId: id('trt-beside'), args: [{ backup_filename: file, table: 'public.reminders', as: 'reminders_from_backup' }] });
    expect(beside).toMatchObject({ status: 'success', beside: { table: 'public.reminders_from_backup' } });
    expect(await reminders()).toBe(changed);
    const copy = await withAdmin(async (c) => (await c.query('SELECT json_agg(r ORDER BY id)::text AS j FROM reminders_from_backup r')).rows[0].j as string, live);
    expect(copy).toBe(atBackup);

    const replaced = await client.workflow.execute(restoreTable, { taskQueue: config.temporal.taskQueue, workflowId: id('trt-table'), args: [{ backup_filename: file, table: 'public.reminders', confirm_restore: true }] });
    expect(replaced.status).toBe('success');
    expect(replaced.plan!.tables).toEqual([expect.objectContaining({ table: 'public.reminders', delete: 0, update: expect.any(Number), insert: expect.any(Number) })]);
    expect(await reminders()).toBe(atBackup);
    expect(await tenantHashes(live).then((h) => Object.entries(h).filter(([k]) => !k.startsWith('public.reminders')))).toEqual(otherTables);
  });

  it('refuses a table restore that would delete rows other tables still point at, naming them', async () => {
    const file = await backup();
    const member = await withAdmin(async (c) => {
      const { rows } = await c.query<{ id: string }>("INSERT INTO family_members (tenant_id, full_name, relation) SELECT id, 'New Baby', 'child' FROM tenants ORDER BY slug LIMIT 1 RETURNING id");
      await c.query("INSERT INTO reminders (tenant_id, member_id, title, due_at) SELECT tenant_id, id, 'vaccine', now() FROM family_members WHERE id = $1", [rows[0]!.id]);
      return rows[0]!.id;
    }, live);
    const client = await testClient();
    const result = await client.workflow.execute(restoreTable, { taskQueue: config.temporal.taskQueue, workflowId: id('trt-table-refuse'), args: [{ backup_filename: file, table: 'public.family_members', confirm_restore: true }] });
    expect(result.status).toBe('refused');
    expect(result.error!.type).toBe('TableRestoreConflict');
    expect(result.error!.message).toContain(`public.reminders still_referenced (reminders_member_id_fkey): 1 rows of public.reminders point (member_id) at rows of public.family_members the restore would delete; e.g. (${member})`);
    const still = await withAdmin(async (c) => (await c.query('SELECT count(*)::int AS n FROM family_members WHERE id = $1', [member])).rows[0].n, live);
    expect(still).toBe(1);
  });
});
