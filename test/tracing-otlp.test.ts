// Tracing as a user turns it on: the built fbb, `fbb backup --local` with OTEL_EXPORTER_OTLP_ENDPOINT
// pointing at a real HTTP receiver, which gets the spans over OTLP HTTP (JSON) at /v1/traces.
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, dropDatabase, tempDir, testConfig, userEnvFor } from './helpers';
import { built, spawnNode, userEnv } from './spawned';

let database: string;
let server: http.Server;
const posts: { path: string; type: string; body: string }[] = [];

beforeAll(async () => {
  database = await createDatabase('otlp');
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      posts.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  if (database) await dropDatabase(database);
});

describe('OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it('sends the backup trace (the command, the workflow, each activity with its file) to <endpoint>/v1/traces, without the password', async () => {
    const fbb = await built('bin/fbb.js');
    const config = testConfig({ database, backupDir: tempDir() });
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const child = spawnNode([fbb, 'backup', '--local', '--json'], userEnv({ ...userEnvFor(config), OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }), os.tmpdir());
    const { code, stdout, stderr } = await child.exited;
    expect({ code, stderr }).toMatchObject({ code: 0 });
    const { filename } = JSON.parse(stdout) as { filename: string };

    expect(posts.length).toBeGreaterThan(0);
    expect([...new Set(posts.map((p) => `${p.path} ${p.type}`))]).toEqual(['/v1/traces application/json']);
    const sent = posts.map((p) => p.body).join('\n');
    for (const name of ['fbb backup', 'StartWorkflow:backupDatabase', 'RunWorkflow:backupDatabase', 'StartActivity:dumpDatabase', 'RunActivity:dumpDatabase', 'RunActivity:recordBackup']) {
      expect(sent, name).toContain(`"name":"${name}"`);
    }
    expect(sent).toContain(`{"key":"fbb.file","value":{"stringValue":"${filename}"}}`);
    expect(sent).toContain('{"key":"service.name","value":{"stringValue":"family-brain-backup"}}');
    expect(sent).not.toContain(config.database.password!);
  });
});
