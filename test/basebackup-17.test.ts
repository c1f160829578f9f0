// Issue 24 on PostgreSQL 17: an incremental base backup (pg_basebackup --incremental against the
// previous backup_manifest, summarize_wal=on) is restored to a moment T through pg_combinebackup
// and holds exactly the state at T, after a retention that keeps the chain. Real Temporal dev server,
// real Worker, a durable 17 cluster.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prunePhysicalBackups } from '../src/activities/basebackup/prune';
import { baseBackup, restoreToTime } from '../src/workflows';
import { diffFingerprints } from './compare';
import { temporalDriver, type Runner } from './drivers';
import { runActivity, tempDir, uniqueName, withServer } from './helpers';
import { startPitrSetup, startRestored, switchAndArchive, type PitrSetup } from './pitrCluster';

const driver = temporalDriver();
const id = (label: string) => uniqueName(label).replace(/_/g, '-');

let setup: PitrSetup;
let runner: Runner;
beforeAll(async () => {
  setup = await startPitrSetup({ major: 17, settings: ['summarize_wal=on'] });
  runner = await driver.runner(setup.config);
}, 240_000);
afterAll(async () => {
  await driver.release();
  await setup?.archive.stop().catch(() => undefined);
  await setup?.cluster.stop();
});

describe('an incremental base backup on PostgreSQL 17', () => {
  it('is taken against the previous backup_manifest and restores to T through pg_combinebackup, exactly', async () => {
    const full = await runner.execute(baseBackup, { args: [{}], workflowId: id('bb17-full') });
    expect(full.manifest).toMatchObject({ backup_type: 'full', parent: null, pg_major: 17 });
    await withServer(setup.cluster, 'family_brain', async (c) => {
      await c.query('CREATE TABLE between_backups AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 5000) g');
      await c.query("UPDATE chat_messages SET content = content || ' (between backups)' WHERE id IN (SELECT id FROM chat_messages ORDER BY id LIMIT 10)");
    });
    const incremental = await runner.execute(baseBackup, { args: [{ incremental: true }], workflowId: id('bb17-incr') });
    expect(incremental.manifest).toMatchObject({ backup_type: 'incremental', parent: full.manifest.filename });
    expect(incremental.manifest.size_bytes).toBeLessThan(full.manifest.size_bytes);
    // Each was verified before it was uploaded; the incremental one restored through pg_combinebackup of the chain.
    for (const m of [full.manifest, incremental.manifest]) {
      expect(m.verification).toMatchObject({ checks: { amcheck: { database: 'family_brain', problems: 0 }, row_counts: { exact: true, tables_compared: Object.keys(m.table_details).length } } });
    }
    expect(incremental.manifest.table_details.between_backups).toBe(5000);

    await withServer(setup.cluster, 'family_brain', (c) => c.query('DELETE FROM between_backups WHERE id % 2 = 0'));
    const atT = await setup.fingerprintFamilyBrain();
    await new Promise((r) => setTimeout(r, 1_000));
    const t = await withServer(setup.cluster, 'postgres', async (c) => (await c.query<{ t: Date }>('SELECT clock_timestamp() AS t')).rows[0]!.t.toISOString());
    await new Promise((r) => setTimeout(r, 1_000));
    await withServer(setup.cluster, 'family_brain', (c) => c.query('DROP TABLE between_backups'));
    await switchAndArchive(setup);

    // Retention a month later: the incremental backup is the newest one before the window, and its full parent stays with it (its chain).
    const later = new Date(Date.parse(incremental.manifest.end_time) + 30 * 86_400_000).toISOString();
    const kept = await runActivity(prunePhysicalBackups, setup.config, { dryRun: false, now: later });
    expect(kept.filter((d) => d.type !== 'wal').map((d) => [d.filename, d.action, d.reason])).toEqual([
      [incremental.manifest.filename, 'keep', `the newest base backup that ended before the recovery window (14 days) began: moments from ${new Date(Date.parse(later) - 14 * 86_400_000).toISOString()} on are restored from it`],
      [full.manifest.filename, 'keep', `${incremental.manifest.filename} is incremental to it (its chain)`],
    ]);
    expect(kept.filter((d) => d.action === 'remove')).toEqual([]);

    const dir = tempDir('pitr17');
    fs.chmodSync(dir, 0o755);
    const target = path.join(dir, 'restored');
    const result = await runner.execute(restoreToTime, { args: [{ to_time: t, target_dir: target }], workflowId: id('pitr17') });
    expect(result.chain).toEqual([full.manifest.filename, incremental.manifest.filename]);
    expect(result.base_backup).toBe(incremental.manifest.filename);
    const restored = await startRestored(setup.cluster.binDir, target, setup.cluster.password);
    try {
      const got = await restored.fingerprint();
      // Sequences are WAL-logged 32 values ahead: after a recovery they are never behind, not equal.
      expect(diffFingerprints({ ...atT, sequences: {} }, { ...got, sequences: {} })).toEqual([]);
      expect(await restored.query('SELECT count(*)::int AS n FROM between_backups')).toEqual([{ n: 2500 }]);
    } finally {
      await restored.stop();
    }
  }, 400_000);
});
