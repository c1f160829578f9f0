// STAND-IN for the real WAL archive (the archiveWal workflow, `fbb wal start`), written before that
// merged: bare pg_receivewal (through a slot) into a spool directory, and every second each completed
// segment gzipped into BACKUP_DIR/wal/<sysid>/ with its .sha256 sidecar, and the newest .partial copied
// as <seg>.partial.gz. The layout is the contract (docs/operations.md). test/pitr.test.ts runs the real
// archive (startPitrSetup's archive: 'real'); basebackup.test.ts and basebackup-17.test.ts still use
// this one: they have not been moved yet, not because the real archive cannot serve them.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa, type ResultPromise } from 'execa';
import { walDir } from '../src/basebackup/naming';
import { tempDir, withServer } from './helpers';

/** A server the stand-in streams from. */
interface Server {
  host: string;
  port: number;
  user: string;
  password: string;
  binDir: string;
}

/** The running stand-in: sweep() archives what pg_receivewal has so far; stop() ends it after a last sweep. */
export interface WalArchiveStandIn {
  systemIdentifier: string;
  dir: string;
  sweep(): void;
  stop(): Promise<void>;
}

/** Starts pg_receivewal --synchronous on a new slot of `server`, archiving into `backupDir`/wal/<sysid>/. */
export async function startWalArchiveStandIn(server: Server, backupDir: string): Promise<WalArchiveStandIn> {
  const sysid = await withServer(server, 'postgres', async (c) => (await c.query<{ s: string }>('SELECT system_identifier::text AS s FROM pg_control_system()')).rows[0]!.s);
  const dir = path.join(backupDir, walDir(sysid));
  fs.mkdirSync(dir, { recursive: true });
  const spool = tempDir('walspool');
  const slot = `fbb_standin_${process.pid}_${Date.now() % 100000}`;
  const env = { PGHOST: server.host, PGPORT: String(server.port), PGUSER: server.user, PGPASSWORD: server.password };
  const tool = path.join(server.binDir, 'pg_receivewal');
  await execa(tool, ['--create-slot', '-S', slot], { env });
  const receiver: ResultPromise = execa(tool, ['-D', spool, '-S', slot, '--synchronous', '-n', '--status-interval=1'], { env, reject: false });
  const archived = new Set<string>();
  const put = (name: string, data: Buffer) => {
    const gz = gzipSync(data);
    const tmp = path.join(dir, `.${name}.tmp`);
    fs.writeFileSync(path.join(dir, `${name}.sha256`), `${createHash('sha256').update(gz).digest('hex')}\n`);
    fs.writeFileSync(tmp, gz);
    fs.renameSync(tmp, path.join(dir, name));
  };
  /** Reads a spool file, or undefined when pg_receivewal renamed it meanwhile (a partial segment completed). */
  const read = (file: string): Buffer | undefined => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  };
  const sweep = () => {
    for (const f of fs.readdirSync(spool).sort()) {
      const full = path.join(spool, f);
      if (/^[0-9A-F]{24}$/.test(f) || /^[0-9A-F]{8}\.history$/.test(f)) {
        if (archived.has(f)) continue;
        put(`${f}.gz`, read(full)!);
        archived.add(f);
        fs.rmSync(path.join(dir, `${f}.partial.gz`), { force: true });
        fs.rmSync(path.join(dir, `${f}.partial.gz.sha256`), { force: true });
      } else if (/^[0-9A-F]{24}\.partial$/.test(f)) {
        const data = read(full);
        if (data !== undefined && !archived.has(f.slice(0, 24))) put(`${f}.gz`, data);
      }
    }
  };
  const timer = setInterval(sweep, 1_000);
  return {
    systemIdentifier: sysid,
    dir,
    sweep,
    async stop() {
      clearInterval(timer);
      receiver.kill('SIGTERM');
      await receiver;
      sweep();
      fs.rmSync(spool, { recursive: true, force: true });
    },
  };
}
