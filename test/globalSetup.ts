// Starts the servers every test file shares (PostgreSQL 15 with pgvector, s3rver) and stops them.
import type { TestProject } from 'vitest/node';
import { assertPostgresInstalled, findPgBinDir, startPgCluster, type PgCluster } from '../src/testing/pgCluster';
import { startS3Server, type S3Server } from '../src/testing/s3server';

declare module 'vitest' {
  export interface ProvidedContext {
    pg: { host: string; port: number; user: string; password: string; binDir: string };
    s3: { endpoint: string; bucket: string; region: string; accessKeyId: string; secretAccessKey: string };
  }
}

let pg: PgCluster | undefined;
let s3: S3Server | undefined;

export async function setup(project: TestProject): Promise<void> {
  await assertPostgresInstalled(findPgBinDir());
  [pg, s3] = await Promise.all([startPgCluster(), startS3Server()]);
  project.provide('pg', { host: pg.host, port: pg.port, user: pg.user, password: pg.password, binDir: pg.binDir });
  project.provide('s3', { endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
}

export async function teardown(): Promise<void> {
  await Promise.all([pg?.stop(), s3?.stop()]);
}
