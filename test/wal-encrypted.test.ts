// With BACKUP_AGE_RECIPIENTS set, every archived WAL file is gzipped, then encrypted with age
// (<segment>.gz.age, <segment>.partial.gz.age), and its sidecar is the SHA-256 of the encrypted
// bytes; the age CLI with the private key and gunzip give back the 16 MB segment.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { checksumName, WAL_SEGMENT_BYTES, walDir } from '../src/wal/layout';
import { archiveWal, stopWalArchive } from '../src/workflows/archiveWal';
import { eventually } from './eventually';
import { ageKeygen, uniqueName } from './helpers';
import { onTemporal, startTestWorker, testClient } from './temporal';
import { sql, switchSegment, systemIdentifier, walConfigFor } from './wal';

let cluster: PgCluster;

beforeAll(async () => {
  cluster = await startPgCluster();
});

afterAll(async () => {
  await cluster?.stop();
});

describe('the encrypted WAL archive', () => {
  it('stores <segment>.gz.age and <segment>.partial.gz.age that the age CLI decrypts to the 16 MB segment', async () => {
    const key = await ageKeygen();
    const base = walConfigFor(cluster);
    const config = onTemporal({ ...base, s3: undefined, backup: { ...base.backup, ageRecipients: [key.recipient], ageIdentityFile: key.file } });
    const local = path.join(config.backup.dir, walDir(await systemIdentifier(cluster)));
    const worker = await startTestWorker(config);
    const handle = await (await testClient()).workflow.start(archiveWal, { args: [{}], workflowId: uniqueName('wal-age'), taskQueue: config.temporal.taskQueue });
    try {
      await eventually('the slot is streamed', () => sql<{ active: boolean }>(cluster, 'SELECT active FROM pg_replication_slots'), (r) => r[0]?.active === true, 60_000);
      const ended = await switchSegment(cluster);
      const stored = path.join(local, `${ended}.gz.age`);
      await eventually('the encrypted segment is archived', async () => fs.existsSync(stored), (ok) => ok, 90_000);
      const bytes = fs.readFileSync(stored);
      expect(bytes.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
      expect(fs.readFileSync(path.join(local, checksumName(`${ended}.gz.age`)), 'utf8')).toBe(`${createHash('sha256').update(bytes).digest('hex')}\n`);
      const { stdout } = await execa('age', ['-d', '-i', key.file, stored], { encoding: 'buffer' });
      expect(zlib.gunzipSync(stdout).length).toBe(WAL_SEGMENT_BYTES);
      // Nothing is stored in clear text.
      await sql(cluster, "INSERT INTO wal_test (note) VALUES ('after the switch')");
      await eventually('the encrypted partial copy', async () => fs.readdirSync(local), (files) => files.some((f) => f.endsWith('.partial.gz.age')), 60_000);
      expect(fs.readdirSync(local).filter((f) => f.endsWith('.gz'))).toEqual([]);
    } finally {
      await handle.signal(stopWalArchive, { drop_slot: true });
      await handle.result();
      await worker.stop();
    }
  });
});
