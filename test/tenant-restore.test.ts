// Per-tenant restore's engine on the sample Family Second Brain database: plan, apply, verify, conflicts.
import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createPartialActivities } from '../src/partial/activities';
import { createDatabase, runActivity, testConfig, uniqueName, withAdmin } from './helpers';
import { notOf, of, tenantHashes } from './tenantHashes';

const made: string[] = [];
afterAll(async () => {
  await withAdmin(async (c) => {
    for (const d of made) await c.query(`DROP DATABASE IF EXISTS "${d}" WITH (FORCE)`);
  });
});

/** A copy of `database` as it is now: stands for the backup loaded into a scratch database (the workflow test uses a real backup). */
async function scratchCopy(database: string): Promise<string> {
  const name = uniqueName('trs_scratch');
  await withAdmin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${database}`));
  made.push(name);
  return name;
}

/** Changes a tenant's rows in every way a restore must undo: deletes (cascading), updates (an updated_at trigger fires), inserts. */
async function changeTenant(c: pg.Client, tenant: string, label: string): Promise<void> {
  await c.query('DELETE FROM family_documents WHERE id IN (SELECT id FROM family_documents WHERE tenant_id = $1 ORDER BY id LIMIT 2)', [tenant]);
  await c.query(`UPDATE users SET display_name = display_name || ' ${label}' WHERE tenant_id = $1`, [tenant]);
  await c.query(`UPDATE chat_messages m SET content = content || ' ${label}' FROM chat_sessions s WHERE s.id = m.session_id AND s.tenant_id = $1 AND m.position = 1`, [tenant]);
  await c.query('DELETE FROM family_members WHERE id = (SELECT min(id) FROM family_members WHERE tenant_id = $1)', [tenant]);
  await c.query(`INSERT INTO tags (tenant_id, name) VALUES ($1, 'new-${label}')`, [tenant]);
  await c.query(`INSERT INTO settings (tenant_id, key, value) VALUES ($1, 'added-${label}', '1')`, [tenant]);
}

const tenants = (db: string) => withAdmin(async (c) => (await c.query<{ id: string }>('SELECT id FROM tenants ORDER BY slug')).rows.map((r) => r.id), db);

describe('a tenant restore on the sample database', () => {
  let live: string;
  let scratch: string;
  let ids: string[];
  let atBackup: Record<string, string>;
  let changed: Record<string, string>;
  const acts = () => createPartialActivities(testConfig({ database: live }));

  beforeEach(async () => {
    live = await createDatabase('trs_live');
    made.push(live);
    ids = await tenants(live);
    atBackup = await tenantHashes(live);
    scratch = await scratchCopy(live);
    await withAdmin(async (c) => {
      await changeTenant(c, ids[0]!, 'one');
      await changeTenant(c, ids[1]!, 'two');
    }, live);
    changed = await tenantHashes(live);
  });

  it('plans per table, and the plan changes nothing', async () => {
    const plan = await runActivity(acts().planPartialRestore, { scratch_database: scratch, tenant_id: ids[0]! });
    const row = (t: string) => plan.tables.find((x) => x.table === t)!;
    // Two documents deleted, and those of the deleted family member with them (ON DELETE CASCADE).
    expect(row('public.family_documents')).toMatchObject({ delete: 0, update: 0 });
    expect(row('public.family_documents').insert).toBeGreaterThanOrEqual(2);
    expect(row('public.family_members')).toMatchObject({ delete: 0, insert: 1, update: 0 });
    expect(row('public.users')).toMatchObject({ delete: 0, insert: 0, update: 3, unchanged: 0 });
    expect(row('public.chat_messages')).toMatchObject({ delete: 0, insert: 0, update: 8 });
    expect(row('public.tags')).toMatchObject({ delete: 1, insert: 0, update: 0 });
    expect(row('public.settings')).toMatchObject({ delete: 1, insert: 0, update: 0 });
    expect(row('public.tenants')).toMatchObject({ delete: 0, insert: 0, update: 0, unchanged: 1 });
    expect(row('public.chat_messages').via).toBe('via chat_messages_session_id_fkey → public.chat_sessions');
    expect(plan.left_alone).toEqual(['public.system_logs']);
    expect(plan.conflicts).toEqual([]);
    expect(await tenantHashes(live)).toEqual(changed);
  });

  it('brings one tenant back to the backup and leaves the other changed tenant exactly as it is now', async () => {
    const { applied } = await runActivity(acts().applyPartialRestore, { scratch_database: scratch, tenant_id: ids[0]! });
    expect(applied.verification.ok).toBe(true);
    const after = await tenantHashes(live);
    expect(of(after, ids[0]!)).toEqual(of(atBackup, ids[0]!));
    expect(of(after, ids[1]!)).toEqual(of(changed, ids[1]!));
    expect(of(after, ids[1]!)).not.toEqual(of(atBackup, ids[1]!));
    expect(notOf(after, ids[0]!)).toEqual(notOf(changed, ids[0]!));
    // The same, read without the engine's hashes: the tenant's documents and users as JSON, byte for byte.
    const rows = (db: string) =>
      withAdmin(async (c) => {
        const q = `SELECT (SELECT json_agg(d ORDER BY id)::text FROM family_documents d WHERE tenant_id = $1) AS docs, (SELECT json_agg(u ORDER BY id)::text FROM users u WHERE tenant_id = $1) AS users`;
        return (await c.query(q, [ids[0]!])).rows[0];
      }, db);
    expect(await rows(live)).toEqual(await rows(scratch));
  });

  it('a second apply finds nothing left to change (a retried activity is harmless)', async () => {
    await runActivity(acts().applyPartialRestore, { scratch_database: scratch, tenant_id: ids[0]! });
    const again = await runActivity(acts().planPartialRestore, { scratch_database: scratch, tenant_id: ids[0]! });
    expect(again.tables.every((t) => t.delete === 0 && t.insert === 0 && t.update === 0)).toBe(true);
  });

  it('never moves a sequence backwards', async () => {
    const seq = () => withAdmin(async (c) => Number((await c.query("SELECT last_value FROM tags_id_seq")).rows[0].last_value), live);
    const before = await seq();
    await runActivity(acts().applyPartialRestore, { scratch_database: scratch, tenant_id: ids[0]! });
    expect(await seq()).toBe(before);
    await withAdmin((c) => c.query(`INSERT INTO tags (tenant_id, name) VALUES ($1, 'after')`, [ids[2]!]), live);
    expect(await seq()).toBe(before + 1);
  });

  it('moves a sequence forward when the restored rows need it', async () => {
    // Someone reset the sequence since the backup: the restored family member's id would be handed out again.
    await withAdmin((c) => c.query("SELECT setval('family_members_id_seq', 1)"), live);
    await runActivity(acts().applyPartialRestore, { scratch_database: scratch, tenant_id: ids[0]! });
    const { next, max } = await withAdmin(async (c) => (await c.query("SELECT nextval('family_members_id_seq')::int AS next, (SELECT max(id) FROM family_members)::int AS max")).rows[0], live);
    expect(next).toBeGreaterThan(max);
  });

  it('refuses a unique key another tenant took since the backup, naming the rows, and changes nothing', async () => {
    // Tenant 0 had an api key prefix in the backup; now it is gone from tenant 0 and tenant 2 holds that prefix.
    const prefix = await withAdmin(async (c) => {
      const { rows } = await c.query<{ key_prefix: string }>('SELECT key_prefix FROM api_keys WHERE tenant_id = $1 ORDER BY key_prefix LIMIT 1', [ids[0]!]);
      await c.query('DELETE FROM api_keys WHERE key_prefix = $1', [rows[0]!.key_prefix]);
      await c.query(`INSERT INTO api_keys (id, tenant_id, name, key_prefix, key_hash, scopes) VALUES (gen_random_uuid(), $1, 'taken', $2, '\\x00', '{}')`, [ids[2]!, rows[0]!.key_prefix]);
      return rows[0]!.key_prefix;
    }, live);
    const before = await tenantHashes(live);
    const plan = await runActivity(acts().planPartialRestore, { scratch_database: scratch, tenant_id: ids[0]! });
    expect(plan.conflicts).toEqual([
      expect.objectContaining({ table: 'public.api_keys', kind: 'key_taken', constraint: 'api_keys_key_prefix_key', rows: 1, examples: [`(${prefix})`] }),
    ]);
    const err = await runActivity(acts().applyPartialRestore, { scratch_database: scratch, tenant_id: ids[0]! }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('TenantRestoreConflict');
    expect((err as Error).message).toContain(`public.api_keys key_taken (api_keys_key_prefix_key): 1 of the backup's rows have a api_keys_key_prefix_key key (key_prefix) now held by tenant ${ids[2]!}; e.g. (${prefix})`);
    expect(await tenantHashes(live)).toEqual(before);
  });

  it('refuses a row whose foreign key points at a row gone since (another tenant deleted it), and changes nothing', async () => {
    // A backup row of tenant 0 that points at a user of tenant 3 (a cross-tenant link), then tenant 3 deletes that user.
    const user = await withAdmin(async (c) => {
      const { rows } = await c.query<{ id: string }>('SELECT id FROM users WHERE tenant_id = $1 ORDER BY id LIMIT 1', [ids[3]!]);
      return rows[0]!.id;
    }, live);
    await withAdmin((c) => c.query('UPDATE ai_usage SET user_id = $1 WHERE id = (SELECT min(id) FROM ai_usage WHERE tenant_id = $2)', [user, ids[0]!]), scratch);
    await withAdmin((c) => c.query('UPDATE ai_usage SET user_id = NULL WHERE user_id = $1', [user]).then(() => c.query('DELETE FROM users WHERE id = $1', [user])), live);
    const before = await tenantHashes(live);
    const err = await runActivity(acts().applyPartialRestore, { scratch_database: scratch, tenant_id: ids[0]! }).catch((e: unknown) => e);
    expect((err as ApplicationFailure).type).toBe('TenantRestoreConflict');
    expect((err as Error).message).toContain(`public.ai_usage missing_parent (ai_usage_user_id_fkey): 1 of the backup's rows point (user_id) at rows of public.users that are gone now and not restored with them; e.g. (${user})`);
    expect(await tenantHashes(live)).toEqual(before);
  });

  it('refuses an id that is unknown both in the backup and now', async () => {
    const err = await runActivity(acts().planPartialRestore, { scratch_database: scratch, tenant_id: '00000000-0000-0000-0000-000000000000' }).catch((e: unknown) => e);
    expect((err as ApplicationFailure).type).toBe('InvalidRestoreInput');
    expect((err as Error).message).toMatch(/^tenant "00000000-0000-0000-0000-000000000000" is neither in the backup nor in the live database/);
  });
});
