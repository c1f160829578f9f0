// Used by `npm run bench`: our dump step alone, as the worker runs it (the dumpDatabase activity:
// snapshot, row counts alongside, pg_dump through the compressor and SHA-256 into the file, fsync,
// manifest, rename), without a workflow around it and without verification. Configured from the
// environment like a worker; writes how long the activity took and the file's size as JSON on stdout.
import { MockActivityEnvironment } from '@temporalio/testing';
import { dumpDatabase } from '../src/activities/backup/dump';
import { backupFilename } from '../src/backup/naming';
import { loadConfig } from '../src/config';

async function main(): Promise<void> {
  const config = loadConfig({ ...process.env, BACKUP_VERIFY: 'after_dump' });
  const { format } = config.backup;
  const filename = backupFilename(config.backup.prefix, 'manual', new Date(), config.backup.timezone, format);
  const quiet = () => undefined;
  const logger = { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet };
  const environment = new MockActivityEnvironment({ attempt: 1 }, { logger });
  // Timed here, so that starting node and loading the SDK (which a running worker has done long before) are not counted.
  const started = process.hrtime.bigint();
  const manifest = (await environment.run(dumpDatabase, config, { filename, type: 'manual' as const, format, workflowId: `bench-dump-${process.pid}` })) as { size_bytes: number };
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(`${JSON.stringify({ seconds, size_bytes: manifest.size_bytes })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-dump: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
