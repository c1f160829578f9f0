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
import { temporalInfo } from './temporal';

const HISTORIES = path.join(__dirname, 'fixtures/histories');
// Kept older histories (e.g. backup-manual-v1.json, while runs of that version may be open) replay too.
const SCENARIOS = ['backup-daily-s3', 'backup-dry-run', 'backup-manual', 'restore-cancelled', 'restore-confirmed', 'restore-confirmed-by-update', 'restore-expired', 'restore-rolled-back'];

function recorded(): { workflowId: string; history: unknown }[] {
  return fs
    .readdirSync(HISTORIES)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ workflowId: f.replace(/\.json$/, ''), history: JSON.parse(fs.readFileSync(path.join(HISTORIES, f), 'utf8')) as unknown }));
}

/** The recorded scenarios: the files' names without .json, sorted as names (restore-confirmed before restore-confirmed-by-update). */
const names = () => recorded().map((h) => h.workflowId).sort();

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
  it('cover backups (manual, dry run, to S3) and restores (confirmed by signal and by Update, cancelled, expired, rolled back)', () => {
    expect(names()).toEqual(expect.arrayContaining(SCENARIOS));
  });

  it('all replay against the current workflow code without a nondeterminism error', async () => {
    const results = await replayAll({ workflowBundle: { codePath: temporalInfo.workflowBundle } });
    expect(Object.keys(results).sort()).toEqual(names());
    expect(failures(results)).toEqual([]);
  });

  it('do not replay when a workflow gains an activity call without patched(): every backup fails with a DeterminismViolationError', async () => {
    const { code } = await bundleWorkflows(path.join(__dirname, 'fixtures/changed-workflows/unpatched.ts'));
    const results = await replayAll({ workflowBundle: { code } });
    const backups = names().filter((s) => s.startsWith('backup-'));
    for (const name of backups) {
      expect(results[name], name).toBeInstanceOf(DeterminismViolationError);
      expect(results[name]?.message, name).toMatch(/planBackup/);
    }
    // The restores' pre-restore backup runs the pipeline, not backupDatabase: unchanged, so they replay.
    expect(failures(results).map((f) => f.split(':')[0])).toEqual(backups);
  });

  it('replay when the same change is made behind patched()', async () => {
    const { code } = await bundleWorkflows(path.join(__dirname, 'fixtures/changed-workflows/patched.ts'));
    const results = await replayAll({ workflowBundle: { code } });
    expect(Object.keys(results).sort()).toEqual(names());
    expect(failures(results)).toEqual([]);
  });

  it('hold no secret the recording ran with (database password, AWS keys), not even base64-encoded in a payload', () => {
    const leaks = fs
      .readdirSync(HISTORIES)
      .filter((f) => f.endsWith('.json'))
      .flatMap((f) => secretsIn(fs.readFileSync(path.join(HISTORIES, f), 'utf8')).map((secret) => `${f}: ${secret}`));
    expect(leaks).toEqual([]);
  });

  it('would be caught holding a secret: the check decodes payloads', () => {
    const payload = Buffer.from(JSON.stringify({ url: `postgres://backup:${RECORDING_SECRETS.PGPASSWORD}@db/family_brain` })).toString('base64');
    const leaky = JSON.stringify({ events: [{ eventId: '1', workflowExecutionStartedEventAttributes: { input: { payloads: [{ metadata: {}, data: payload }] } } }] });
    expect(secretsIn(leaky)).toEqual(['PGPASSWORD']);
  });
});
