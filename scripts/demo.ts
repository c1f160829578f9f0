// `npm run demo`: the main job, a verified backup, on embedded defaults. Without DATABASE_URL/PGHOST
// it starts a throwaway PostgreSQL with the sample Family Second Brain database, runs
// `fbb backup --local` against it (into ./backups), prints the result and stops the server.
// With them set, it backs up that database. Extra arguments go to `fbb backup` (e.g. --json).
import pg from 'pg';
import { runCli } from '../src/client/cli';
import { loadSampleDatabase } from '../src/testing/fixture';
import { startPgCluster } from '../src/testing/pgCluster';

const JOB = ['backup', '--local'];

async function main(): Promise<number> {
  const extra = process.argv.slice(2);
  if (process.env.DATABASE_URL || process.env.PGHOST) {
    process.stderr.write('demo: using the database from DATABASE_URL/PGHOST\n');
    return runCli([...JOB, ...extra]);
  }
  process.stderr.write('demo: starting a throwaway PostgreSQL 15 with pgvector and the sample Family Second Brain database...\n');
  const cluster = await startPgCluster();
  try {
    const admin = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'postgres' });
    await admin.connect();
    await admin.query('CREATE DATABASE family_brain');
    await admin.end();
    const db = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'family_brain' });
    await db.connect();
    await loadSampleDatabase(db, { scale: Number(process.env.DEMO_SCALE ?? 1) });
    await db.end();
    process.stderr.write(`demo: running "fbb ${[...JOB, ...extra].join(' ')}" against it\n\n`);
    return await runCli([...JOB, ...extra], {
      env: {
        ...process.env,
        PGHOST: cluster.host,
        PGPORT: String(cluster.port),
        PGUSER: cluster.user,
        PGPASSWORD: cluster.password,
        PGDATABASE: 'family_brain',
        PG_BIN_DIR: process.env.PG_BIN_DIR ?? cluster.binDir,
      },
    });
  } finally {
    await cluster.stop();
    process.stderr.write('\ndemo: throwaway PostgreSQL stopped\n');
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
