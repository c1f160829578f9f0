// Starts the servers every test file shares (PostgreSQL 15 with pgvector, s3rver, a Temporal dev
// server) and bundles the workflow code once for every real Worker; stops them all at the end.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import pg$ from 'pg';
import { bundleWorkflows } from '../src/workflowBundle';
import { loadSampleDatabase } from '../src/sample/fixture';
import { assertPostgresInstalled, findPgBinDir, startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { startS3Server, type S3Server } from './s3server';
import { requireTemporalCli } from '../src/temporalCli';
import { startTemporalDevServer, type TemporalDevServer } from '../src/temporalServer';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `sampleTemplate`: a database holding the default sample, for CREATE DATABASE ... TEMPLATE (test/helpers.ts createDatabase). */
    pg: { host: string; port: number; user: string; password: string; binDir: string; sampleTemplate: string };
    s3: { endpoint: string; bucket: string; region: string; accessKeyId: string; secretAccessKey: string };
    temporal: { address: string; namespace: string; uiUrl: string; logFile: string; cli: string; pid: number; workflowBundle: string };
  }
}

let pg: PgCluster | undefined;
let s3: S3Server | undefined;
let temporal: TemporalDevServer | undefined;
let bundleDir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  await assertPostgresInstalled(findPgBinDir());
  const cli = requireTemporalCli();
  const started = Date.now();
  const bundling = bundleWorkflows();
  [pg, s3, temporal] = await Promise.all([startPgCluster(), startS3Server(), startTemporalDevServer({
      cli,
      startTimeoutMs: 120_000,
      // Test workers poll as versions of a worker deployment, each on a task queue of its own, and a
      // queue joins its version for good: past the server's default of 100 queues per version (and
      // 100 deployments per namespace) a new one is refused and its runs never start.
      dynamicConfig: { 'matching.maxTaskQueuesInDeploymentVersion': 100_000, 'matching.maxDeployments': 10_000 },
    })]);
  process.stderr.write(`globalSetup: PostgreSQL, s3rver and the Temporal dev server (${temporal.address}, UI ${temporal.uiUrl}) up in ${Date.now() - started} ms\n`);
  await createSampleTemplate(pg);
  bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-bundle-'));
  const workflowBundle = path.join(bundleDir, 'workflow-bundle.js');
  fs.writeFileSync(workflowBundle, (await bundling).code);
  project.provide('pg', { host: pg.host, port: pg.port, user: pg.user, password: pg.password, binDir: pg.binDir, sampleTemplate: SAMPLE_TEMPLATE });
  project.provide('s3', { endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
  project.provide('temporal', { address: temporal.address, namespace: temporal.namespace, uiUrl: temporal.uiUrl!, logFile: temporal.logFile, cli, pid: temporal.pid, workflowBundle });
}

/** The database the default sample is loaded into once per run; each test database is a copy of it. */
const SAMPLE_TEMPLATE = 'sample_template';

/** Loads the default sample into SAMPLE_TEMPLATE; no connection to it stays open (a template must have none). */
async function createSampleTemplate(cluster: PgCluster): Promise<void> {
  const connect = async (database: string) => {
    const client = new pg$.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database });
    await client.connect();
    return client;
  };
  const admin = await connect('postgres');
  await admin.query(`CREATE DATABASE ${SAMPLE_TEMPLATE}`).finally(() => admin.end());
  const template = await connect(SAMPLE_TEMPLATE);
  await loadSampleDatabase(template).finally(() => template.end());
}

export async function teardown(): Promise<void> {
  await Promise.all([pg?.stop(), s3?.stop(), temporal?.stop()]);
  if (bundleDir) fs.rmSync(bundleDir, { recursive: true, force: true });
}
