// Worker Versioning on the dev server, with worker PROCESSES as `npm run worker` starts them: a
// restore waiting on a person is PINNED to the version that started it and finishes there after a
// newer version became current, while runs started after the rollout (a drill while the restore
// holds the database's lock, a backup after it) run on the new version.
import os from 'node:os';
import type { WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupDatabase, confirmRestoreUpdate, restoreDatabase, restoreDrill, statusQuery } from '../src/workflows';
import { buildWorker, dropOurDatabases, killAllWorkers, printed, startWorker } from './durability';
import { eventually } from './eventually';
import type { DatabaseFingerprint } from './compare';
import { createDatabase, fingerprint, testConfig, uniqueName, withAdmin } from './helpers';
import { onTemporal, temporalInfo, testClient } from './temporal';

beforeAll(buildWorker, 600_000);
afterAll(async () => {
  await killAllWorkers();
  await dropOurDatabases();
});

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** When an event happened, in ms since the epoch. */
const at = (e: HistoryEvent) => Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);

/** Who completed each workflow task of a run, as which version, and who started each activity. */
async function whoRan(handle: WorkflowHandle) {
  const events = (await handle.fetchHistory()).events ?? [];
  const tasks = events.filter((e) => e.workflowTaskCompletedEventAttributes).map((e) => ({ at: at(e), identity: e.workflowTaskCompletedEventAttributes!.identity, buildId: e.workflowTaskCompletedEventAttributes!.deploymentVersion?.buildId }));
  const activities = events.filter((e) => e.activityTaskStartedEventAttributes).map((e) => ({ at: at(e), identity: e.activityTaskStartedEventAttributes!.identity }));
  return { tasks, activities };
}

/** A fingerprint without system_logs, where the drill and the restore record themselves. */
function withoutLogs(f: DatabaseFingerprint) {
  const { 'public.system_logs': _rows, ...tables } = f.tables;
  const { 'public.system_logs_id_seq': _seq, ...sequences } = f.sequences;
  return { ...f, tables, sequences };
}

/** The run's versioning as the server describes it: behaviour and the version it is on. */
async function versioningOf(handle: WorkflowHandle) {
  const info = (await handle.describe()).raw.workflowExecutionInfo?.versioningInfo;
  return { behavior: info?.behavior, buildId: info?.deploymentVersion?.buildId, deploymentName: info?.deploymentVersion?.deploymentName };
}

describe('Worker Versioning: a rollout while a restore waits for its confirmation', () => {
  it('the restore started on version A is confirmed after B became current and completes on A; a backup started after the rollout runs on B', async () => {
    const t0 = Date.now();
    const timeline: [number, string][] = [];
    const note = (what: string, when = Date.now()) => timeline.push([when, what]);
    const deployment = uniqueName('versioning').replace(/_/g, '-');
    const db = await createDatabase('versioning');
    const config = onTemporal(testConfig({ database: db }));
    const client = await testClient();
    const versionEnv = (buildId: string) => ({ WORKER_DEPLOYMENT_NAME: deployment, WORKER_BUILD_ID: buildId, LOG_LEVEL: 'info' });

    // Version A: the deployment's first version, so it makes itself current.
    const a = startWorker(config, versionEnv('A'));
    await printed(a, `made worker version ${deployment}.A the current version of deployment ${deployment} (it had none)`);
    note(`worker A (pid ${a.pid}) polls; version ${deployment}.A made current by the worker itself (the deployment had none)`);
    const atBackup = withoutLogs(await fingerprint(db));
    const first = await client.workflow.execute(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('ver-b1'), args: [{ cleanup_old: false }] });
    note(`backup ${first.filename} done (on A)`);
    await withAdmin((c) => c.query('DELETE FROM chat_messages WHERE id % 2 = 0'), db);
    const restore = await client.workflow.start(restoreDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('ver-r'), args: [{ backup_filename: first.filename }] });
    note(`restore ${restore.workflowId} started`);
    await eventually('the restore waits for confirmation', () => restore.query(statusQuery), (s) => s.phase === 'awaiting_confirmation', 120_000);
    note('restore awaiting_confirmation (pre-restore backup made)');

    // Version B: not the first, so it waits for the operator and says what to run.
    const b = startWorker(config, versionEnv('B'));
    const command = `temporal worker deployment set-current-version --deployment-name ${deployment} --build-id B`;
    await printed(
      b,
      `worker version ${deployment}.B is not the current version of deployment ${deployment}: its current version is ${deployment}.A, which gets every new run; ` +
        `this worker serves only runs pinned to ${deployment}.B. To roll it out run "${command}"`,
    );
    note(`worker B (pid ${b.pid}) polls; it logs that ${deployment}.A is current and the command to roll B out`);
    // The operator's step, as the log line gives it (--yes: no prompt; the test server's address).
    await execa(temporalInfo.cli, [...command.split(' ').slice(1), '--address', temporalInfo.address, '--yes']);
    const rolledOut = Date.now();
    note(`operator: ${command}`);

    // While the restore waits (it holds the database's lock, so no backup of it runs now): a drill, which takes no lock.
    const drillOnB = await client.workflow.start(restoreDrill, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('ver-d'), args: [{ source: 'local' }] });
    note(`drill ${drillOnB.workflowId} started`);
    const drilled = await drillOnB.result();
    note(`drill of ${drilled.filename} ${drilled.status}`);
    const answer = await restore.executeUpdate(confirmRestoreUpdate, { args: [{ confirmed_by: 'versioning test' }] });
    note(`restore confirmed (the update answered: phase ${answer.phase})`);
    const restored = await restore.result();
    note(`restore ${restored.status}`);
    const backupOnB = await client.workflow.start(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('ver-b2'), args: [{ cleanup_old: false }] });
    note(`backup ${backupOnB.workflowId} started`);
    const secondResult = await backupOnB.result();
    note(`backup ${secondResult.filename} done`);

    const identityA = `${a.pid}@${os.hostname()}`;
    const identityB = `${b.pid}@${os.hostname()}`;
    // The restore: PINNED to A, every workflow task and activity done by A's process, some after B became current.
    expect(restored).toMatchObject({ status: 'success' });
    expect(withoutLogs(await fingerprint(db))).toEqual(atBackup);
    expect(await versioningOf(restore)).toEqual({ behavior: 1 /* PINNED */, buildId: 'A', deploymentName: deployment });
    const onA = await whoRan(restore);
    expect(new Set(onA.tasks.map((t) => `${t.identity} ${t.buildId}`))).toEqual(new Set([`${identityA} A`]));
    expect(new Set(onA.activities.map((t) => t.identity))).toEqual(new Set([identityA]));
    expect(onA.tasks.filter((t) => t.at >= rolledOut).length).toBeGreaterThan(0);
    // The drill and the backup started after the rollout: AUTO_UPGRADE, on B, done by B's process.
    const onB: Record<string, Awaited<ReturnType<typeof whoRan>>> = {};
    for (const [what, handle] of [['drill', drillOnB], ['backup 2', backupOnB]] as const) {
      expect(await versioningOf(handle)).toEqual({ behavior: 2 /* AUTO_UPGRADE */, buildId: 'B', deploymentName: deployment });
      onB[what] = await whoRan(handle);
      expect(new Set(onB[what].tasks.map((t) => `${t.identity} ${t.buildId}`))).toEqual(new Set([`${identityB} B`]));
      expect(new Set(onB[what].activities.map((t) => t.identity))).toEqual(new Set([identityB]));
    }

    const by = (identity: string | null | undefined) => (identity === identityA ? 'A' : identity === identityB ? 'B' : String(identity));
    for (const t of onA.tasks) note(`restore: workflow task completed by ${by(t.identity)} (build ${t.buildId})`, t.at);
    for (const t of onA.activities) note(`restore: activity started by ${by(t.identity)}`, t.at);
    for (const [what, ran] of Object.entries(onB)) for (const t of ran.tasks) note(`${what}: workflow task completed by ${by(t.identity)} (build ${t.buildId})`, t.at);
    // The restore's lock, a child workflow (AUTO_UPGRADE by its own declaration): where it ran, for the record.
    const child = (await restore.fetchHistory()).events?.find((e) => e.childWorkflowExecutionStartedEventAttributes)?.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
    if (child?.workflowId && child.runId) {
      const lockId = child.workflowId;
      const lock = client.workflow.getHandle(lockId, child.runId);
      const v = await versioningOf(lock);
      const ran = await whoRan(lock);
      note(`lock ${lockId}: versioning ${v.behavior === 1 ? 'PINNED' : v.behavior === 2 ? 'AUTO_UPGRADE' : String(v.behavior)} on build ${v.buildId}; workflow tasks by ${[...new Set(ran.tasks.map((t) => by(t.identity)))].join(', ')}`, ran.tasks.at(-1)?.at);
    }
    // Consecutive identical lines are folded into one, with a count.
    const folded: [number, string, number][] = [];
    for (const [when, what] of timeline.sort((x, y) => x[0] - y[0])) {
      const last = folded.at(-1);
      if (last && last[1] === what) last[2]++;
      else folded.push([when, what, 1]);
    }
    const lines = folded.map(([when, what, n]) => `  +${((when - t0) / 1000).toFixed(1).padStart(5)} s  ${what}${n > 1 ? ` (x${n})` : ''}`);
    process.stderr.write(`versioning timeline (A = pid ${a.pid}, B = pid ${b.pid}):\n${lines.join('\n')}\n`);
  }, 600_000);
});

describe('Worker Versioning settings of a worker process', () => {
  it('WORKER_VERSIONING=false: an unversioned worker runs a backup, and the run has no deployment version', async () => {
    const db = await createDatabase('unversioned');
    const config = onTemporal(testConfig({ database: db }));
    void startWorker(config, { WORKER_VERSIONING: 'false' });
    const client = await testClient();
    const handle = await client.workflow.start(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('unv-b'), args: [{ cleanup_old: false }] });
    expect(await handle.result()).toMatchObject({ status: 'success', verified: { ok: true } });
    expect(await versioningOf(handle)).toEqual({ behavior: undefined, buildId: undefined, deploymentName: undefined });
    expect(new Set((await whoRan(handle)).tasks.map((t) => t.buildId ?? 'none'))).toEqual(new Set(['none']));
  }, 300_000);

  it('WORKER_SET_CURRENT=never on a new deployment: the worker makes nothing current and says that no versioned worker gets new runs, and how to roll it out', async () => {
    const deployment = uniqueName('never').replace(/_/g, '-');
    const config = onTemporal(testConfig());
    const worker = startWorker(config, { WORKER_DEPLOYMENT_NAME: deployment, WORKER_BUILD_ID: 'C', WORKER_SET_CURRENT: 'never' });
    await printed(
      worker,
      `worker version ${deployment}.C is not the current version of deployment ${deployment}: it has no current version, so no versioned worker gets new runs. ` +
        `To roll it out run "temporal worker deployment set-current-version --deployment-name ${deployment} --build-id C"`,
    );
    const client = await testClient();
    // The deployment exists once the server registered the worker's poll (before that: NOT_FOUND); it has no current version.
    const current = await client.workflowService.describeWorkerDeployment({ namespace: temporalInfo.namespace, deploymentName: deployment }).then(
      (d) => d.workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId ?? null,
      (err: { code?: number }) => {
        if (err.code === 5) return null;
        throw err;
      },
    );
    expect(current).toBeNull();
  }, 300_000);
});
