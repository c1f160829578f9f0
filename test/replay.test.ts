// Workflows already running when a new worker version starts are replayed from their history by the
// new code. Every history in test/fixtures/histories (recorded from a real Temporal dev server by
// `npm run record-histories`) must replay against the current workflow code on a real replay Worker;
// a change that would break running workflows fails here, before it reaches a worker.
import fs from 'node:fs';
import path from 'node:path';
import { Runtime, Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { beforeAll, describe, expect, it } from 'vitest';
import { RECORDING_SECRETS, secretsIn } from '../scripts/record-histories';
import { bundleWorkflows } from '../src/workflowBundle';
import * as workflows from '../src/workflows';
import { temporalInfo } from './temporal';

const HISTORIES = path.join(__dirname, 'fixtures/histories');
// Histories recorded by earlier versions (older/: file lock, verification after the dump) are kept and never
// re-recorded: runs of those versions may still be open when a new worker starts.
const OLDER = 'older';
/** The default path of every workflow type, as the production worker runs it (scripts/historyScenarios.ts). */
const SCENARIOS = [
  'backup-manual', 'lock-released', 'backup-dry-run', 'backup-daily-s3', 'list-backups', 'check-environment', 'drill-s3', 'drill-local',
  'restore-confirmed', 'restore-confirmed-by-update', 'restore-cancelled', 'restore-cancelled-by-update', 'restore-expired', 'restore-rolled-back',
  'restore-tenant-confirmed-by-update', 'restore-tenant-dry-run', 'restore-table-confirmed', 'restore-table-beside',
  'wal-archive-stopped', 'base-backup-full', 'restore-to-time',
];

type History = { events: { workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }[] };

function recorded(): { workflowId: string; history: History }[] {
  const files = (dir: string) => fs.readdirSync(path.join(HISTORIES, dir)).filter((f) => f.endsWith('.json')).map((f) => path.join(dir, f));
  return [...files(''), ...files(OLDER)]
    .sort()
    .map((f) => ({ workflowId: f.replace(/\.json$/, ''), history: JSON.parse(fs.readFileSync(path.join(HISTORIES, f), 'utf8')) as History }));
}

/** The recorded scenarios: the files' names without .json (older ones as older/<name>), sorted as names. */
const names = () => recorded().map((h) => h.workflowId).sort();

/** The workflow type a history ran. */
const typeOf = (history: History) => history.events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;

/** Replays every recorded history; the error of each (undefined when it replayed cleanly), by scenario. */
async function replayAll(options: ReplayWorkerOptions): Promise<Record<string, Error | undefined>> {
  const results: Record<string, Error | undefined> = {};
  for await (const { workflowId, error } of Worker.runReplayHistories(options, recorded())) results[workflowId] = error;
  return results;
}

const failures = (results: Record<string, Error | undefined>) =>
  Object.entries(results)
    .filter(([, error]) => error !== undefined)
    .map(([name, error]) => `${name}: ${error!.name}: ${error!.message}`);

beforeAll(() => {
  const noop = () => undefined;
  const warn = (message: string) => process.stderr.write(`[sdk] ${message}\n`);
  Runtime.install({ logger: { log: noop, trace: noop, debug: noop, info: noop, warn, error: warn } });
});

describe('recorded histories', () => {
  it('cover the default path of every workflow type the worker registers, recorded on the production worker', () => {
    expect(names()).toEqual(expect.arrayContaining(SCENARIOS));
    const registered = Object.entries(workflows).filter(([, value]) => typeof value === 'function').map(([name]) => name).sort();
    const current = recorded().filter((h) => !h.workflowId.startsWith(`${OLDER}/`));
    expect([...new Set(current.map((h) => typeOf(h.history)))].sort()).toEqual(registered);
    // The production worker takes the lock workflow and sends the steps after the dump to its own queue.
    const backup = JSON.stringify(current.find((h) => h.workflowId === 'backup-manual')!.history);
    expect(backup).toContain('"databaseLock"');
    expect(backup).toMatch(/"taskQueue":\{"name":"record-histories@[^"]+"/);
  });

  it('all replay against the current workflow code without a nondeterminism error', async () => {
    const results = await replayAll({ workflowBundle: { codePath: temporalInfo.workflowBundle } });
    expect(Object.keys(results).sort()).toEqual(names());
    expect(failures(results)).toEqual([]);
  });

  it('do not replay when a workflow gains an activity call without patched(): every backup fails with a DeterminismViolationError', async () => {
    const { code } = await bundleWorkflows(path.join(__dirname, 'fixtures/changed-workflows/unpatched.ts'));
    const results = await replayAll({ workflowBundle: { code } });
    const backups = recorded().filter((h) => typeOf(h.history) === 'backupDatabase').map((h) => h.workflowId).sort();
    expect(backups.length).toBeGreaterThan(3);
    for (const name of backups) {
      expect(results[name], name).toBeInstanceOf(DeterminismViolationError);
      expect(results[name]?.message, name).toMatch(/planBackup/);
    }
    // The restores' pre-restore backup runs the pipeline, not backupDatabase: unchanged, so they replay.
    expect(failures(results).map((f) => f.split(':')[0]).sort()).toEqual(backups);
  });

  it('replay when the same change is made behind patched()', async () => {
    const { code } = await bundleWorkflows(path.join(__dirname, 'fixtures/changed-workflows/patched.ts'));
    const results = await replayAll({ workflowBundle: { code } });
    expect(Object.keys(results).sort()).toEqual(names());
    expect(failures(results)).toEqual([]);
  });

  it('hold no secret the recording ran with (database password, AWS keys), not even base64-encoded in a payload', () => {
    const leaks = recorded().flatMap(({ workflowId, history }) => secretsIn(JSON.stringify(history)).map((secret) => `${workflowId}: ${secret}`));
    expect(leaks).toEqual([]);
  });

  it('would be caught holding a secret: the check decodes payloads', () => {
    const payload = Buffer.from(JSON.stringify({ url: `postgres://backup:${RECORDING_SECRETS.PGPASSWORD}@db/family_brain` })).toString('base64');
    const leaky = JSON.stringify({ events: [{ eventId: '1', workflowExecutionStartedEventAttributes: { input: { payloads: [{ metadata: {}, data: payload }] } } }] });
    expect(secretsIn(leaky)).toEqual(['PGPASSWORD']);
  });
});
