// A second, independent S3 implementation for the storage conformance suite: moto in server mode.
import fs from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { execa, type ResultPromise } from 'execa';
import { createS3Client } from '../src/storage/s3Client';
import { freePort, waitForPort } from '../src/ports';
import type { S3Server } from './s3server';

/** The pinned moto that scripts/install-deps.sh installs into .tools/. */
export const MOTO_VERSION = '5.2.5';

/** `moto_server` from .tools/ (or MOTO_SERVER); undefined when not installed. */
export function findMotoServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.MOTO_SERVER) return env.MOTO_SERVER;
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  const bin = path.join(dir, '.tools', `moto-${MOTO_VERSION}`, 'bin', 'moto_server');
  return fs.existsSync(bin) ? bin : undefined;
}

/** Starts moto's S3 on a free port, with one bucket; state is in memory and gone at stop. */
export async function startMotoServer(bucket = 'family-brain-backups'): Promise<S3Server> {
  const bin = findMotoServer();
  if (bin === undefined) throw new Error('moto_server is not installed; run "bash scripts/install-deps.sh" (it installs moto into .tools/), or set MOTO_SERVER');
  const port = await freePort();
  const child: ResultPromise = execa(bin, ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore', reject: false, cleanup: true });
  const exited = child.then((r) => {
    throw new Error(`moto_server exited early (code ${String(r.exitCode)})`);
  });
  await Promise.race([waitForPort('127.0.0.1', port, 60_000), exited]);
  exited.catch(() => undefined);
  const server: S3Server = {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region: 'us-east-1',
    accessKeyId: 'testing',
    secretAccessKey: 'testing',
    dataDir: '',
    async stop() {
      child.kill('SIGTERM');
      await child.catch(() => undefined);
    },
  };
  const client = createS3Client({ bucket, prefix: '', endpoint: server.endpoint, region: server.region, forcePathStyle: true, partSizeBytes: 5 * 1024 * 1024 });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  client.destroy();
  return server;
}
