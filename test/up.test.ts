// `fbb up` as a family server runs it (node bin/fbb.js up, the built CLI): its own Temporal dev server
// with the state in a SQLite file, a worker, the schedules; `fbb backup` from another shell is served
// by it; a restart keeps the runs; SIGTERM stops it cleanly. It never starts a PostgreSQL: it uses the
// suite's, as a family server uses its own.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../src/ports';
import { createDatabase, dropDatabase, tempDir, uniqueName, withAdmin } from './helpers';
import { alive, built, spawnNode, userEnv, type Spawned } from './spawned';

let FBB: string;
const pgInfo = inject('pg');
const running: Spawned[] = [];
let database: string;

beforeAll(async () => {
  FBB = await built('bin/fbb.js');
  database = await createDatabase('up');
});

afterAll(async () => {
  for (const child of running) child.kill('SIGKILL');
  await dropDatabase(database);
});

/** The shell of a family server: its database, the address fbb up serves on, the state directory. */
async function serverEnv(): Promise<Record<string, string>> {
  return userEnv({
    PGHOST: pgInfo.host,
    PGPORT: String(pgInfo.port),
    PGUSER: pgInfo.user,
    PGPASSWORD: pgInfo.password,
    PGDATABASE: database,
    PG_BIN_DIR: pgInfo.binDir,
    BACKUP_DIR: tempDir(),
    TEMPORAL_ADDRESS: `localhost:${await freePort()}`,
    FBB_STATE_DIR: path.join(tempDir('state'), 'fbb-state'),
    WORKER_SHUTDOWN_GRACE_SECONDS: '10',
  });
}

function fbb(args: string[], env: Record<string, string>): Spawned {
  const child = spawnNode([FBB, ...args], env);
  running.push(child);
  return child;
}

/** Starts `fbb up` and waits for its summary; returns it with the dev server's pid. */
async function up(env: Record<string, string>, uiPort: number): Promise<{ child: Spawned; summary: string; serverPid: number }> {
  const child = fbb(['up', '--ui-port', String(uiPort)], env);
  await child.waitFor(/^Stop with Ctrl-C or SIGTERM/m);
  const serverPid = Number(/^ {2}Temporal +\S+ \(namespace default; pid (\d+)\)$/m.exec(child.stdout())?.[1]);
  expect(alive(serverPid)).toBe(true);
  return { child, summary: child.stdout(), serverPid };
}

/** SIGTERM, then the exit code, the output, and whether the dev server is still there. */
async function stop(started: { child: Spawned; serverPid: number }): Promise<{ code: number; stderr: string; serverAlive: boolean }> {
  started.child.kill('SIGTERM');
  const { code, stderr } = await started.child.exited;
  return { code, stderr, serverAlive: alive(started.serverPid) };
}

describe('fbb up', () => {
  it('serves a backup started with fbb backup, keeps its runs across a restart (SQLite state), and stops cleanly on SIGTERM', async () => {
    const env = await serverEnv();
    const uiPort = await freePort();
    const first = await up(env, uiPort);
    expect(first.summary).toContain(`  Temporal   ${env.TEMPORAL_ADDRESS} (namespace default; pid ${first.serverPid})\n`);
    expect(first.summary).toContain(`  Web UI     http://127.0.0.1:${uiPort}\n`);
    expect(first.summary).toMatch(/^ {2}worker +in this process \(pid \d+\), task queue family-brain-backup$/m);
    // The only worker of its server: its version is made the deployment's current one by itself.
    expect(first.summary).toMatch(/^ {2}version +family-brain-backup\.\d+\.\d+\.\d+-[0-9a-f]{12} \(made current\)$/m);
    expect(first.summary).toContain(`  database   ${pgInfo.user}@${pgInfo.host}:${pgInfo.port}/${database} (check it with "fbb doctor")\n`);
    // The suite's server allows replication (wal_level replica, a superuser, initdb's pg_hba): the archive starts, so the base-backup schedules are applied too (BASEBACKUP_SCHEDULE=auto).
    const archiveId = `fbb-wal-${database}@${pgInfo.host}:${pgInfo.port}`;
    expect(first.summary).toContain(`  archive    ${archiveId} started ("fbb wal status")\n`);
    expect(first.summary).toContain(
      '  schedules  schedule_daily_backup (created), schedule_weekly_backup (created), schedule_monthly_backup (created), schedule_restore_drill (created), schedule_basebackup_full (created), schedule_basebackup_incremental (created); in America/Toronto\n',
    );
    const status = await fbb(['wal', 'status', '--json'], env).exited;
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ slot: `fbb_${database}` });
    expect(first.summary).toContain(`  state      ${env.FBB_STATE_DIR} (temporal.sqlite, server.log)\n`);

    // Another shell, same settings: the CLI reaches the server at TEMPORAL_ADDRESS and the worker in fbb up does the job.
    const backup = await fbb(['backup', '--json'], env).exited;
    expect(backup.code, backup.stderr).toBe(0);
    expect(JSON.parse(backup.stdout)).toMatchObject({ status: 'success', total_rows: 2260 });
    const workflowId = /^fbb: backup (\S+) started on task queue family-brain-backup$/m.exec(backup.stderr)![1]!;

    expect(await stop(first)).toEqual({ code: 0, stderr: expect.stringMatching(/fbb up: SIGTERM: stopping the worker \(running activities get up to 10 s\), then the Temporal server\n.*fbb up: stopped; the state stays in \S+\n$/s), serverAlive: false });
    expect(fs.existsSync(path.join(env.FBB_STATE_DIR!, 'temporal.sqlite'))).toBe(true);

    const second = await up(env, uiPort);
    // The same build after the restart: the same version, current already (SQLite state).
    expect(second.summary).toMatch(/^ {2}version +family-brain-backup\.\d+\.\d+\.\d+-[0-9a-f]{12} \(current\)$/m);
    // The archive's run survived in the SQLite state: fbb up attaches to it.
    expect(second.summary).toMatch(new RegExp(`^ {2}archive +${archiveId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, running since \\S+ \\("fbb wal status"\\)$`, 'm'));
    expect(second.summary).toContain(
      '  schedules  schedule_daily_backup (updated), schedule_weekly_backup (updated), schedule_monthly_backup (updated), schedule_restore_drill (updated), schedule_basebackup_full (updated), schedule_basebackup_incremental (updated); in America/Toronto\n',
    );
    const history = await fbb(['history', '--type', 'backup', '--json'], env).exited;
    expect(history.code, history.stderr).toBe(0);
    const runs = JSON.parse(history.stdout) as { workflow_id: string; status: string; summary: { verified: boolean } | null }[];
    expect(runs.map((r) => [r.workflow_id, r.status, r.summary?.verified])).toEqual([[workflowId, 'completed', true]]);
    // The shared test server must not keep WAL for a slot nobody streams from.
    const walStop = await fbb(['wal', 'stop', '--drop-slot'], env).exited;
    expect(walStop.code, walStop.stderr).toBe(0);
    expect(walStop.stdout).toBe(`WAL archive ${archiveId} stopped; slot fbb_${database} dropped\n`);
    expect(await stop(second)).toMatchObject({ code: 0, serverAlive: false });
  });

  it('says in one line why it did not start the WAL archive when the role may not stream WAL, and runs without it and without the base-backup schedules', async () => {
    const role = uniqueName('up_norepl');
    await withAdmin((c) => c.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pw' NOREPLICATION`));
    try {
      const env = { ...(await serverEnv()), PGUSER: role, PGPASSWORD: 'pw' };
      const started = await up(env, await freePort());
      expect(started.summary).toContain(
        `  archive    not started: role ${role} has no REPLICATION attribute; needed for the WAL archive (fbb wal start, point-in-time recovery): ALTER ROLE ${role} REPLICATION; (as a superuser); "fbb doctor" checks every prerequisite\n`,
      );
      expect(started.summary).toContain('  schedules  schedule_daily_backup (created), schedule_weekly_backup (created), schedule_monthly_backup (created), schedule_restore_drill (created); in America/Toronto\n');
      expect(await stop(started)).toMatchObject({ code: 0, serverAlive: false });
    } finally {
      await withAdmin((c) => c.query(`DROP ROLE ${role}`));
    }
  });

  it('refuses, starting nothing, when its port is taken, naming the port and what to change', async () => {
    const env = await serverEnv();
    const port = Number(env.TEMPORAL_ADDRESS!.split(':')[1]);
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
    try {
      const { code, stdout, stderr } = await fbb(['up'], env).exited;
      expect({ code, stdout, stderr }).toEqual({
        code: 2,
        stdout: '',
        stderr: `fbb: TEMPORAL_ADDRESS=localhost:${port}: port ${port} on 127.0.0.1 is not free (EADDRINUSE): another Temporal server, or "fbb up" already running? Stop it, or set TEMPORAL_ADDRESS=localhost:<free port> for fbb up and every fbb command\n`,
      });
      expect(fs.existsSync(env.FBB_STATE_DIR!)).toBe(false);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('refuses without the Temporal CLI, saying how to install it', async () => {
    const env = { ...(await serverEnv()), TEMPORAL_CLI: '/nonexistent/temporal' };
    const { code, stderr } = await fbb(['up'], env).exited;
    expect({ code, stderr }).toEqual({
      code: 2,
      stderr:
        'fbb: fbb up needs the Temporal CLI, which runs the server: no Temporal CLI found (TEMPORAL_CLI=/nonexistent/temporal does not exist); ' +
        'run "bash scripts/install-deps.sh" to install the pinned version, or set TEMPORAL_CLI to a temporal binary\n',
    });
  });

  it('refuses a TEMPORAL_ADDRESS on another machine: it starts its server here', async () => {
    const env = { ...(await serverEnv()), TEMPORAL_ADDRESS: 'temporal.example:7233' };
    const { code, stderr } = await fbb(['up'], env).exited;
    expect({ code, stderr }).toEqual({
      code: 2,
      stderr:
        'fbb: TEMPORAL_ADDRESS=temporal.example:7233: fbb up starts the Temporal server on this machine, so it needs localhost:<port>, 127.0.0.1:<port> or 0.0.0.0:<port> (all interfaces); ' +
        'unset it for localhost:7233, or, to use the server at that address, run the worker alone ("npm run worker")\n',
    });
  });
});
