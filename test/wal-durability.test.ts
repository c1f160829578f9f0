// The WAL archive survives what a long-running stream meets: its worker SIGKILLed while
// pg_receivewal streams, the database server restarted (immediate mode: a crash), and the Temporal
// server restarted. After each, no segment is missing from the archive and the slot is streamed
// again. This file starts its own PostgreSQL and Temporal dev server (it restarts both) and real
// worker processes, as `npm run worker` runs them.
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config';
import { walWorkflowId } from '../src/ids';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { startTemporalDevServer, type TemporalDevServer } from '../src/temporalServer';
import { walDir } from '../src/wal/layout';
import { archiveWal, stopWalArchive, walStatusQuery } from '../src/workflows/archiveWal';
import { buildWorker, kill, killAllWorkers, startWorker } from './durability';
import { eventually } from './eventually';
import { tempDir, uniqueName } from './helpers';
import { archiveProblems, localSegments, sql, switchSegment, systemIdentifier, walConfigFor } from './wal';

let cluster: PgCluster;
let temporal: TemporalDevServer;
let temporalState: string;
let temporalPort: number;
let client: Client;
let config: Config;
let worker: ResultPromise;
let local: string;
const workflowId = () => walWorkflowId('postgres', cluster.host, cluster.port);

/** A worker process on this file's Temporal server, with the archive's settings. */
function newWorker(spoolDir = config.wal!.spoolDir): ResultPromise {
  return startWorker(config, { TEMPORAL_ADDRESS: temporal.address, WAL_PARTIAL_UPLOAD_SECONDS: '2', WAL_SPOOL_DIR: spoolDir });
}

async function connectClient(): Promise<Client> {
  return new Client({ connection: await Connection.connect({ address: temporal.address }), namespace: 'default' });
}

/** Resolves once `segment` is in the archive. */
const archived = (segment: string) => eventually(`${segment} archived`, async () => localSegments(local), (names) => names.includes(`${segment}.gz`), 120_000);

/** Resolves once pg_receivewal streams through the slot (or, with false, once nothing does). */
const slotActive = (active: boolean) =>
  eventually(`the slot is ${active ? '' : 'not '}streamed`, () => sql<{ active: boolean }>(cluster, "SELECT active FROM pg_replication_slots WHERE slot_name = 'fbb_postgres'"), (r) => r[0]?.active === active, 120_000);

beforeAll(async () => {
  await buildWorker();
  cluster = await startPgCluster();
  config = { ...walConfigFor(cluster), s3: undefined };
  config = { ...config, temporal: { ...config.temporal, taskQueue: uniqueName('waltq') } };
  temporalState = tempDir('wal-temporal');
  temporal = await startTemporalDevServer({ stateDir: temporalState, headless: true, startTimeoutMs: 120_000 });
  temporalPort = Number(temporal.address.split(':')[1]);
  client = await connectClient();
  local = path.join(config.backup.dir, walDir(await systemIdentifier(cluster)));
  worker = newWorker();
  await client.workflow.start(archiveWal, { args: [{}], workflowId: workflowId(), taskQueue: config.temporal.taskQueue });
  await slotActive(true);
});

afterAll(async () => {
  const handle = client?.workflow.getHandle(workflowId());
  await handle?.signal(stopWalArchive, { drop_slot: true }).catch(() => undefined);
  await Promise.race([handle?.result().catch(() => undefined), new Promise((r) => setTimeout(r, 30_000))]);
  await killAllWorkers();
  await client?.connection.close().catch(() => undefined);
  await temporal?.stop();
  fs.rmSync(temporalState, { recursive: true, force: true });
  await cluster?.stop();
});

describe('the WAL archive after a crash', () => {
  it('a worker SIGKILLed while pg_receivewal streams: its pg_receivewal dies with it, a new worker (another machine: an empty spool) resumes from the slot, no segment is missing', async () => {
    await archived(await switchSegment(cluster));
    await kill(worker);
    // pg_receivewal died with its worker (no orphan holds the slot); the server keeps the WAL for the slot meanwhile.
    await slotActive(false);
    const whileDown = [await switchSegment(cluster), await switchSegment(cluster)];
    worker = newWorker(tempDir('wal-spool-other'));
    await archived(whileDown[1]!);
    await archived(await switchSegment(cluster));
    for (const s of whileDown) expect(localSegments(local)).toContain(`${s}.gz`);
    expect(archiveProblems(local)).toEqual([]);
    await slotActive(true);
  });

  it('the database server restarted in immediate mode: the archive resumes, no segment is missing', async () => {
    const before = await switchSegment(cluster);
    await archived(before);
    const pgCtl = path.join(cluster.binDir, 'pg_ctl');
    const args = ['-D', cluster.dataDir, '-m', 'immediate', '-w', '-t', '60', '-l', path.join(path.dirname(cluster.dataDir), 'server.log'), 'restart'];
    await (process.getuid?.() === 0 ? execa('runuser', ['-u', 'postgres', '--', pgCtl, ...args]) : execa(pgCtl, args));
    const after = [await switchSegment(cluster), await switchSegment(cluster)];
    await archived(after[1]!);
    expect(archiveProblems(local)).toEqual([]);
    await slotActive(true);
    const status = await client.workflow.getHandle(workflowId()).query(walStatusQuery);
    expect(status.state).toBe('archiving');
  });

  it('the Temporal server restarted: the archive keeps streaming and resumes on the restarted server, no segment is missing', async () => {
    await archived(await switchSegment(cluster));
    await client.connection.close();
    await temporal.stop();
    // pg_receivewal and the archiver go on without Temporal: the worker's activity is still running.
    const whileDown = await switchSegment(cluster);
    await archived(whileDown);
    temporal = await startTemporalDevServer({ stateDir: temporalState, port: temporalPort, headless: true, startTimeoutMs: 120_000 });
    client = await connectClient();
    const after = await switchSegment(cluster);
    await archived(after);
    expect(archiveProblems(local)).toEqual([]);
    await slotActive(true);
    const handle = client.workflow.getHandle(workflowId());
    expect((await handle.describe()).status.name).toBe('RUNNING');
    const status = await eventually('the run answers on the restarted server', () => handle.query(walStatusQuery), (s) => s.state === 'archiving', 120_000);
    expect(status.stop_requested).toBe(false);
  });
});
