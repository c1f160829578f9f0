// Per-tenant restore on a schema with other tenant paths (test/fixtures/households-schema.sql):
// a tenant column under another name, a two-level chain, a circular deferrable pair, a partitioned table.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { connect } from '../src/activities/db';
import type { Config } from '../src/config';
import { createPartialActivities, scratchOpenError } from '../src/partial/activities';
import { createDatabase, runActivity, testConfig, uniqueName, withAdmin } from './helpers';
import { notOf, of, tenantHashes } from './tenantHashes';

const SCHEMA = fs.readFileSync(path.join(__dirname, 'fixtures', 'households-schema.sql'), 'utf8');
const TENANT = { tenant_column: 'household_ref', tenant_table: 'households' };
const made: string[] = [];
afterAll(async () => {
  await withAdmin(async (c) => {
    for (const d of made) await c.query(`DROP DATABASE IF EXISTS "${d}" WITH (FORCE)`);
  });
});

const hashes = (db: string) => tenantHashes(db, TENANT.tenant_column, TENANT.tenant_table);

/** Changes household `h` along every path: chain, circular pair, partitions, the table without key. */
async function changeHousehold(db: string, h: number, label: string): Promise<void> {
  await withAdmin(async (c) => {
    await c.query(`UPDATE households SET name = name || ' ${label}' WHERE id = $1`, [h]);
    // Two-level chain: a notebook goes (its pages cascade), a page is rewritten, a page moves under another parent.
    await c.query('DELETE FROM notebooks WHERE id = (SELECT nb.id FROM notebooks nb JOIN people p ON p.id = nb.owner_id WHERE p.household_ref = $1 ORDER BY nb.title, nb.id LIMIT 1)', [h]);
    await c.query(`UPDATE pages SET body = body || ' ${label}', parent_page_id = NULL WHERE id = (SELECT max(pg.id) FROM pages pg JOIN notebooks nb ON nb.id = pg.notebook_id JOIN people p ON p.id = nb.owner_id WHERE p.household_ref = $1)`, [h]);
    // Circular pair: a project goes (its tasks, including its lead task, cascade), another gets a new lead task.
    await c.query('DELETE FROM projects WHERE id = (SELECT min(pr.id) FROM projects pr JOIN people p ON p.id = pr.owner_id WHERE p.household_ref = $1)', [h]);
    await c.query('UPDATE projects SET lead_task_id = id * 10 + 3 WHERE id = (SELECT max(pr.id) FROM projects pr JOIN people p ON p.id = pr.owner_id WHERE p.household_ref = $1)', [h]);
    // Partitioned: an event moves to the other partition, one is added, a note is deleted.
    await c.query("UPDATE events SET at = date '2026-03-03' WHERE id = (SELECT min(id) FROM events WHERE household_ref = $1 AND at < '2026-01-01' AND id % 2 = 1)", [h]);
    await c.query(`INSERT INTO events (household_ref, at, kind) VALUES ($1, '2026-05-05', 'new ${label}')`, [h]);
    await c.query('DELETE FROM event_notes WHERE id = (SELECT min(n.id) FROM event_notes n JOIN events e ON e.id = n.event_id AND e.at = n.event_at WHERE e.household_ref = $1)', [h]);
    // No primary key: a label changes.
    await c.query(`UPDATE labels SET label = label || ' ${label}' WHERE household_ref = $1 AND label = 'label 1'`, [h]);
    await c.query('INSERT INTO audit_log (message) VALUES ($1)', [`changed ${label}`]);
  }, db);
}

describe('a tenant restore on a schema with other tenant paths', () => {
  let live: string;
  let scratch: string;
  let atBackup: Record<string, string>;
  let changed: Record<string, string>;
  const acts = () => createPartialActivities(testConfig({ database: live }));

  beforeEach(async () => {
    live = await createDatabase('trp_live', false);
    made.push(live);
    await withAdmin((c) => c.query(SCHEMA), live);
    atBackup = await hashes(live);
    scratch = uniqueName('trp_scratch');
    await withAdmin((c) => c.query(`CREATE DATABASE ${scratch} TEMPLATE ${live}`));
    made.push(scratch);
    await changeHousehold(live, 1, 'one');
    await changeHousehold(live, 2, 'two');
    changed = await hashes(live);
  });

  it('takes the tenant column and root table from the worker settings (TENANT_COLUMN, TENANT_TABLE) when the input names none', async () => {
    const config = { ...testConfig({ database: live }), tenants: { column: TENANT.tenant_column, table: TENANT.tenant_table } };
    const fromSettings = await runActivity(createPartialActivities(config).planPartialRestore, { scratch_database: scratch, tenant_id: '1' });
    const fromInput = await runActivity(acts().planPartialRestore, { scratch_database: scratch, tenant_id: '1', ...TENANT });
    expect(fromSettings).toEqual(fromInput);
    expect(fromSettings.tables.map((t) => t.table)).toContain('public.notebooks');
  });

  it('finds every path from the schema, and lists the tables it leaves alone', async () => {
    const plan = await runActivity(acts().planPartialRestore, { scratch_database: scratch, tenant_id: '1', ...TENANT });
    expect(Object.fromEntries(plan.tables.map((t) => [t.table, t.via]))).toEqual({
      'public.households': 'root table',
      'public.people': 'column household_ref',
      'public.events': 'column household_ref',
      'public.labels': 'column household_ref',
      'public.notebooks': 'via notebooks_owner_id_fkey → public.people',
      'public.pages': 'via pages_notebook_id_fkey → public.notebooks',
      'public.projects': 'via projects_owner_id_fkey → public.people',
      'public.tasks': 'via tasks_project_id_fkey → public.projects',
      'public.event_notes': 'via event_notes_event_id_event_at_fkey → public.events',
    });
    // Parents come before children where the keys allow it.
    const order = plan.tables.map((t) => t.table);
    expect(order.indexOf('public.notebooks')).toBeLessThan(order.indexOf('public.pages'));
    expect(order.indexOf('public.events')).toBeLessThan(order.indexOf('public.event_notes'));
    expect(plan.left_alone).toEqual(['public.audit_log', 'public.currencies', 'public.schema_marker']);
    expect(plan.tables.find((t) => t.table === 'public.households')).toMatchObject({ update: 1, unchanged: 0 });
    expect(plan.tables.find((t) => t.table === 'public.pages')).toMatchObject({ insert: 3, update: 1, delete: 0 });
    // The moved event changed its key (id, at): the one in the other partition goes, the backup's comes back; the new one goes.
    expect(plan.tables.find((t) => t.table === 'public.events')).toMatchObject({ insert: 1, update: 0, delete: 2 });
    expect(plan.conflicts).toEqual([]);
    expect(await hashes(live)).toEqual(changed);
  });

  it('brings household 1 back exactly and leaves household 2 exactly as changed', async () => {
    const { applied } = await runActivity(acts().applyPartialRestore, { scratch_database: scratch, tenant_id: '1', ...TENANT });
    expect(applied.verification.ok).toBe(true);
    const after = await hashes(live);
    expect(of(after, '1')).toEqual(of(atBackup, '1'));
    expect(of(after, '2')).toEqual(of(changed, '2'));
    expect(of(after, '2')).not.toEqual(of(atBackup, '2'));
    expect(notOf(after, '1')).toEqual(notOf(changed, '1'));
    // Left alone: the audit log keeps the line written after the backup.
    const audit = await withAdmin(async (c) => (await c.query('SELECT count(*)::int AS n FROM audit_log')).rows[0].n, live);
    expect(audit).toBe(7);
    // Each partition holds household 1's events as in the backup (a moved row went back to its partition).
    const partitions = (db: string) => withAdmin(async (c) => (await c.query("SELECT tableoid::regclass::text AS p, count(*)::int AS n FROM events WHERE household_ref = 1 GROUP BY 1 ORDER BY 1")).rows, db);
    expect(await partitions(live)).toEqual(await partitions(scratch));
  });

  it('refuses when a name household 1 had is now taken by household 3 (a unique key across tenants), and changes nothing', async () => {
    await withAdmin(async (c) => {
      await c.query("UPDATE households SET name = 'renamed' WHERE id = 1");
      await c.query("UPDATE households SET name = 'household 1' WHERE id = 3");
    }, live);
    const before = await hashes(live);
    const err = await runActivity(acts().applyPartialRestore, { scratch_database: scratch, tenant_id: '1', ...TENANT }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('TenantRestoreConflict');
    expect((err as Error).message).toContain("public.households key_taken (households_name_key): 1 of the backup's rows have a households_name_key key (name) now held by tenant 3; e.g. (\"household 1\")");
    expect(await hashes(live)).toEqual(before);
  });

  it('refuses when a row of another tenant now points at a row the restore would delete, and changes nothing', async () => {
    // Household 3 links one of its projects to a task household 1 created after the backup.
    await withAdmin(async (c) => {
      await c.query("INSERT INTO tasks VALUES (9001, (SELECT min(pr.id) FROM projects pr JOIN people p ON p.id = pr.owner_id WHERE p.household_ref = 1), 'new task', false)");
      await c.query('UPDATE projects SET lead_task_id = 9001 WHERE id = (SELECT min(pr.id) FROM projects pr JOIN people p ON p.id = pr.owner_id WHERE p.household_ref = 3)');
    }, live);
    const before = await hashes(live);
    const plan = await runActivity(acts().planPartialRestore, { scratch_database: scratch, tenant_id: '1', ...TENANT });
    expect(plan.conflicts.map((c) => [c.table, c.kind, c.constraint, c.examples])).toEqual([['public.projects', 'still_referenced', 'projects_lead_task_id_fkey', ['(9001)']]]);
    expect(plan.conflicts[0]!.detail).toBe('1 rows of public.projects (tenant 3) point (lead_task_id) at rows of public.tasks the restore would delete');
    const err = await runActivity(acts().applyPartialRestore, { scratch_database: scratch, tenant_id: '1', ...TENANT }).catch((e: unknown) => e);
    expect((err as ApplicationFailure).type).toBe('TenantRestoreConflict');
    expect(await hashes(live)).toEqual(before);
  });
});

// The soak (seed 2626, cycle 5: restore_tenant × pg_ctl -m immediate restart): the scratch copy could not be
// opened while the server restarted ("Connection terminated unexpectedly"), and the restore failed for good,
// where a retry a second later would have finished. Real connection failures from the pg client, classified.
describe('a scratch copy that cannot be opened', () => {
  const config = () => testConfig();
  const failureOf = async (db: Config['database'], name: string) => {
    const err = await connect(db, name, 2_000).then(
      async (c) => {
        await c.end();
        throw new Error(`connected to ${name}`);
      },
      (e: unknown) => e,
    );
    return scratchOpenError(err, { ...config(), database: db }, name) as ApplicationFailure;
  };

  it('is retried, naming the scratch database, when the server closes the connection (restarting)', async () => {
    const closing = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => closing.listen(0, '127.0.0.1', resolve));
    try {
      const port = (closing.address() as net.AddressInfo).port;
      const failed = await failureOf({ ...config().database, host: '127.0.0.1', port }, 'fbb_partial_scratch');
      expect(failed).toBeInstanceOf(ApplicationFailure);
      expect({ type: failed.type, nonRetryable: failed.nonRetryable }).toEqual({ type: 'DatabaseUnreachable', nonRetryable: false });
      expect(failed.message).toContain('cannot connect to database "fbb_partial_scratch"');
    } finally {
      closing.close();
    }
  });

  it('is retried when nothing listens (the server down)', async () => {
    const free = net.createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const port = (free.address() as net.AddressInfo).port;
    await new Promise((resolve) => free.close(resolve));
    const failed = await failureOf({ ...config().database, host: '127.0.0.1', port }, 'fbb_partial_scratch');
    expect({ type: failed.type, nonRetryable: failed.nonRetryable }).toEqual({ type: 'DatabaseUnreachable', nonRetryable: false });
  });

  it('fails for good with RestoreFailed when the copy is gone (dropped): restore again', async () => {
    const gone = uniqueName('trp_gone');
    const failed = await failureOf(config().database, gone);
    expect({ type: failed.type, nonRetryable: failed.nonRetryable }).toEqual({ type: 'RestoreFailed', nonRetryable: true });
    expect(failed.message).toContain(`the backup's scratch copy ${gone} cannot be opened (database "${gone}" does not exist); restore again`);
  });
});
