// The WAL archive when the database server crashes: every commit the server acknowledged after
// pg_receivewal flushed it (a synchronous standby here, so an acknowledged commit is in the spool) is
// in the archive's partial segment, although the periodic partial copy (60 s) never ran; and a
// session that starts on a spool whose partial segment was not archived archives it first, and so
// does an attempt that cannot reach the server, for the spool its earlier attempt's heartbeat names.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveWalSession, type WalSessionResult } from '../src/activities/wal/session';
import type { Config } from '../src/config';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { checksumName, walDir } from '../src/wal/layout';
import { eventually } from './eventually';
import { tempDir } from './helpers';
import { s3Objects, sql, systemIdentifier, walConfigFor } from './wal';

let cluster: PgCluster;
let config: Config;
let local: string;
let relative: string;
let sysid: string;
/** The transaction id of the last commit the server acknowledged before it crashed. */
let lastXid: string;

const quiet = () => undefined;
/** An activity environment for one session, cancellable. */
const activityEnv = (info: { attempt?: number; heartbeatDetails?: unknown } = {}) => new MockActivityEnvironment({ attempt: 1, ...info }, { logger: { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet } });

/** Runs pg_ctl on the cluster as its server user. */
function pgCtl(args: string[]) {
  const bin = path.join(cluster.binDir, 'pg_ctl');
  const all = ['-D', cluster.dataDir, ...args];
  return process.getuid?.() === 0 ? execa('runuser', ['-u', 'postgres', '--', bin, ...all]) : execa(bin, all);
}

/** Removes the stored partial copies of the local archive, as if the session before had died with its worker before its final copy. */
const removeLocalPartials = () => {
  for (const stored of localPartials()) for (const f of [stored, checksumName(stored)]) fs.rmSync(path.join(local, f));
};

/** The stored partial segments of the local archive. */
const localPartials = () => (fs.existsSync(local) ? fs.readdirSync(local).filter((f) => f.endsWith('.partial.gz')) : []);

/** Gunzips the stored partial copy and lists its records with pg_waldump (it stops, with an error, where the received WAL ends). */
async function waldump(stored: string): Promise<string> {
  const dir = tempDir('wal-crash-dump');
  const segment = stored.replace(/\.partial\.gz$/, '');
  fs.writeFileSync(path.join(dir, segment), zlib.gunzipSync(fs.readFileSync(path.join(local, stored))));
  const out = await execa(path.join(cluster.binDir, 'pg_waldump'), ['-p', dir, segment], { reject: false });
  return out.stdout;
}

/** Checks the one stored partial copy, locally and in S3, holds the commit record of `xid`. */
async function expectArchivedCommit(xid: string): Promise<void> {
  const partials = localPartials();
  expect(partials).toHaveLength(1);
  const stored = partials[0]!;
  const bytes = fs.readFileSync(path.join(local, stored));
  expect(fs.readFileSync(path.join(local, checksumName(stored)), 'utf8')).toBe(`${createHash('sha256').update(bytes).digest('hex')}\n`);
  expect(await waldump(stored)).toMatch(new RegExp(`tx:\\s+${xid}, lsn: \\S+, prev \\S+, desc: COMMIT`));
  const s3 = await s3Objects(config, `${relative}/`);
  expect(s3.keys.filter((k) => k.endsWith('.partial.gz'))).toEqual([stored]);
  expect((await s3.read(stored)).equals(bytes)).toBe(true);
}

beforeAll(async () => {
  cluster = await startPgCluster({ settings: ['fsync=on', 'synchronous_commit=on'] });
  config = walConfigFor(cluster, { partialSeconds: 60 });
  sysid = await systemIdentifier(cluster);
  relative = walDir(sysid);
  local = path.join(config.backup.dir, relative);
  await sql(cluster, 'CREATE TABLE crash_load (id serial PRIMARY KEY, note text)');
});

afterAll(async () => {
  await cluster?.stop();
});

describe('the WAL archive when the server crashes', () => {
  it('archives the partial segment as the session fails: it holds the last commit acknowledged before "pg_ctl -m immediate stop", with WAL_PARTIAL_UPLOAD_SECONDS=60', async () => {
    const session = activityEnv()
      .run(archiveWalSession, config, { session_seconds: 600 })
      .then(
        () => undefined,
        (err: unknown) => err as Error,
      );
    await eventually('the slot is streamed', () => sql<{ active: boolean }>(cluster, "SELECT active FROM pg_replication_slots WHERE slot_name = 'fbb_postgres'"), (r) => r[0]?.active === true, 60_000);
    // pg_receivewal becomes a synchronous standby: a commit is acknowledged once it flushed it to the spool.
    await sql(cluster, "ALTER SYSTEM SET synchronous_standby_names = '*'");
    await sql(cluster, 'SELECT pg_reload_conf()');
    await eventually('pg_receivewal is the synchronous standby', () => sql<{ sync_state: string }>(cluster, 'SELECT sync_state FROM pg_stat_replication'), (r) => r[0]?.sync_state === 'sync', 60_000);
    const writer = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'postgres' });
    await writer.connect();
    writer.on('error', () => undefined);
    let commits = 0;
    // A steady write load, one commit at a time, until the server is gone.
    const load = (async () => {
      for (;;) {
        const { rows } = await writer.query<{ xid: string }>("INSERT INTO crash_load (note) VALUES ('row') RETURNING txid_current()::text AS xid");
        lastXid = rows[0]!.xid;
        commits++;
      }
    })().catch(() => undefined);
    await eventually('commits under load', async () => commits, (n) => n >= 200, 60_000);
    await pgCtl(['-m', 'immediate', '-w', 'stop']);
    await load;
    await writer.end().catch(() => undefined);
    const failure = await session;
    // The session fails (retryable) as pg_receivewal loses the server, having archived what it received.
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).type).toBe('WalArchiveFailed');
    expect(failure!.message).toMatch(/^pg_receivewal \(slot fbb_postgres, server 127\.0\.0\.1:\d+\) exited with code 1: .*server closed the connection unexpectedly/);
    await expectArchivedCommit(lastXid);
  });

  it('a session that starts on a spool whose partial segment is not archived (its worker was killed) archives it before streaming', async () => {
    removeLocalPartials();
    await pgCtl(['-w', '-t', '60', '-l', path.join(path.dirname(cluster.dataDir), 'server.log'), 'restart']);
    await sql(cluster, "ALTER SYSTEM SET synchronous_standby_names = ''");
    await sql(cluster, 'SELECT pg_reload_conf()');
    const env = activityEnv();
    const session = env.run(archiveWalSession, config, { session_seconds: 600 });
    // Long before WAL_PARTIAL_UPLOAD_SECONDS=60 and while the session runs: the spool's partial segment is archived first.
    await eventually('pg_receivewal streams again', () => sql<{ active: boolean }>(cluster, "SELECT active FROM pg_replication_slots WHERE slot_name = 'fbb_postgres'"), (r) => r[0]?.active === true, 40_000);
    await expectArchivedCommit(lastXid);
    env.cancel();
    const result = (await session) as WalSessionResult;
    expect(result.ended).toBe('stopped');
  });

  it('an attempt that cannot reach the server archives what the attempt before it (killed with its worker) left in the spool, named by its heartbeat', async () => {
    await pgCtl(['-m', 'immediate', '-w', 'stop']);
    removeLocalPartials();
    const earlier = { system_identifier: sysid, slot: 'fbb_postgres', progress: {}, position: null, sampled_at: null, lag_notified: false };
    const failure = await activityEnv({ attempt: 2, heartbeatDetails: earlier })
      .run(archiveWalSession, config, { session_seconds: 600 })
      .then(
        () => undefined,
        (err: unknown) => err as Error,
      );
    expect(failure?.message).toMatch(/ECONNREFUSED/);
    await expectArchivedCommit(lastXid);
    await pgCtl(['-w', '-t', '60', '-l', path.join(path.dirname(cluster.dataDir), 'server.log'), 'restart']);
  });
});
