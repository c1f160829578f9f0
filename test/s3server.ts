import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { freePort, waitForPort } from '../src/ports';

/** A throwaway S3-protocol server (s3rver) with one bucket. */
export interface S3Server {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * Starts s3rver in its own process. It needs --openssl-legacy-provider, or any
 * ListObjectsV2 past 1,000 keys fails with HTTP 500 on Node 17+ (see ENVIRONMENT.md).
 */
export async function startS3Server(bucket = 'family-brain-backups'): Promise<S3Server> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-s3-'));
  const port = await freePort();
  const bin = require.resolve('s3rver/bin/s3rver.js');
  const child: ResultPromise = execa(
    process.execPath,
    ['--openssl-legacy-provider', bin, '-d', dataDir, '-a', '127.0.0.1', '-p', String(port), '--silent', '--configure-bucket', bucket],
    { stdio: 'ignore', reject: false, cleanup: true },
  );
  const exited = child.then((r) => {
    throw new Error(`s3rver exited early (code ${String(r.exitCode)})`);
  });
  // s3rver creates the bucket before it listens, so an open port means the bucket exists.
  await Promise.race([waitForPort('127.0.0.1', port), exited]);
  exited.catch(() => undefined);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    dataDir,
    async stop() {
      child.kill('SIGTERM');
      await child.catch(() => undefined);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
