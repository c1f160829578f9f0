// Helpers for the WAL archive's tests: a config on a throwaway cluster of the test file's own, and
// what the archive holds (checked segment by segment).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Config } from '../src/config';
import type { PgCluster } from '../src/sample/pgCluster';
import { createS3Client } from '../src/storage/s3Client';
import { checksumName, missingSegments, parseStoredName, WAL_SEGMENT_BYTES } from '../src/wal/layout';
import { tempDir, testConfig, withServer } from './helpers';

/** `testConfig` pointed at `cluster`, with S3, a fast partial copy and quick heartbeats. */
export function walConfigFor(cluster: PgCluster, overrides: { partialSeconds?: number; maxLagSeconds?: number; stallSeconds?: number } = {}): Config {
  const base = testConfig({ s3: true, password: cluster.password });
  return {
    ...base,
    database: { ...base.database, host: cluster.host, port: cluster.port, user: cluster.user, database: 'postgres' },
    pgBinDir: cluster.binDir,
    worker: { ...base.worker, activityTuning: { heartbeat_timeout_seconds: 10, retry_interval_seconds: 1 } },
    wal: { slotName: undefined, partialUploadSeconds: overrides.partialSeconds ?? 2, maxLagSeconds: overrides.maxLagSeconds ?? 3600, stallSeconds: overrides.stallSeconds ?? 120, spoolDir: tempDir('wal-spool') },
  };
}

/** Runs SQL on `cluster`'s postgres database. */
export function sql<T extends Record<string, unknown>>(cluster: PgCluster, text: string, params: unknown[] = []): Promise<T[]> {
  return withServer(cluster, 'postgres', async (c) => (await c.query<T>(text, params)).rows);
}

/** Writes a little, then ends the current segment; returns the name of the segment it ended. */
export async function switchSegment(cluster: PgCluster): Promise<string> {
  await sql(cluster, 'CREATE TABLE IF NOT EXISTS wal_test (id serial PRIMARY KEY, note text)');
  await sql(cluster, "INSERT INTO wal_test (note) SELECT 'row ' || g FROM generate_series(1, 100) g");
  return (await sql<{ name: string }>(cluster, 'SELECT pg_walfile_name(pg_switch_wal()) AS name'))[0]!.name;
}

/** The server's system identifier (the archive's folder name). */
export async function systemIdentifier(cluster: PgCluster): Promise<string> {
  return (await sql<{ id: string }>(cluster, 'SELECT system_identifier::text AS id FROM pg_control_system()'))[0]!.id;
}

/** The completed segments stored in a local archive folder, sorted. */
export function localSegments(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => parseStoredName(f)?.kind === 'segment').sort();
}

/**
 * Checks every stored segment in `dir`: its sidecar is the lowercase hex SHA-256 of its bytes and a
 * newline, it gunzips to exactly one 16 MB segment; and the names leave no gap. Returns the problems.
 */
export function archiveProblems(dir: string): string[] {
  const problems: string[] = [];
  const names = localSegments(dir);
  for (const stored of names) {
    const bytes = fs.readFileSync(path.join(dir, stored));
    const sidecar = fs.readFileSync(path.join(dir, checksumName(stored)), 'utf8');
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sidecar !== `${sha}\n`) problems.push(`${stored}: sidecar ${JSON.stringify(sidecar)}, bytes hash ${sha}`);
    const size = zlib.gunzipSync(bytes).length;
    if (size !== WAL_SEGMENT_BYTES) problems.push(`${stored}: gunzips to ${size} bytes`);
  }
  const missing = missingSegments(names.map((n) => parseStoredName(n)!.name));
  if (missing.length > 0) problems.push(`missing segments: ${missing.join(', ')}`);
  return problems;
}

/** The keys under `config`'s S3 prefix + `relative`, and a function reading one object's bytes. */
export async function s3Objects(config: Config, relative: string): Promise<{ keys: string[]; read(key: string): Promise<Buffer> }> {
  const client = createS3Client(config.s3!);
  const prefix = `${config.s3!.prefix}${relative}`;
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: config.s3!.bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!.slice(prefix.length)));
    token = page.NextContinuationToken;
  } while (token);
  return {
    keys: keys.sort(),
    read: async (key) => Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: config.s3!.bucket, Key: `${prefix}${key}` }))).Body!.transformToByteArray()),
  };
}
