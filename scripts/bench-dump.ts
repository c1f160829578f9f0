// Used by `npm run bench`: our dump step alone, as the worker runs it (the dumpDatabase activity:
// snapshot, row counts alongside, pg_dump through the compressor and SHA-256 into the file, fsync,
// manifest, rename), without a workflow around it and without verification. Configured from the
// environment like a worker; writes the manifest as JSON on stdout.
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
  const manifest = await new MockActivityEnvironment({ attempt: 1 }, { logger }).run(dumpDatabase, config, { filename, type: 'manual' as const, format, workflowId: `bench-dump-${process.pid}` });
  process.stdout.write(`${JSON.stringify(manifest)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-dump: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
