// Connection settings for Temporal, as the worker and the CLI build them from the environment.
// No Temporal server (let alone Temporal Cloud) runs here, so a handshake with a real one cannot be
// tested; a stand-in HTTP/2 TLS server with openssl-made certificates checks instead what the
// worker's and the CLI's connections present: the client certificate, the server name, the API key.
import fs from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { connectTemporal } from '../src/client/connection';
import { CliError, ExitCode } from '../src/client/exitCodes';
import { loadConfig, type TemporalConfig } from '../src/config';
import { describeTemporalAuth, TemporalTlsFileError, temporalConnectionSettings, withoutApiKey } from '../src/temporalConnection';
import { connectWorker } from '../src/worker';
import { tempDir } from './helpers';

const API_KEY = 'fake-temporal-cloud-api-key-for-tests';

const plain: TemporalConfig = { address: '127.0.0.1:1', namespace: 'family', taskQueue: 'q', tls: undefined, apiKey: undefined };

/** A PEM block's first line; built from parts so that no key-shaped literal sits in the tree. */
const pemBegin = (label: string) => `-----BEGIN ${label}-----`;
/** A PEM-ish block around `body` (base64 of a word: nothing here is a real certificate or key). */
const pem = (label: string, body: string) => `${pemBegin(label)}\n${body}\n-----END ${label}-----\n`;

/** PEM-ish files: the right headers, contents that are not real keys (the options builder does not parse them). */
function pemFiles(): { dir: string; cert: string; key: string; ca: string } {
  const dir = tempDir('pem');
  const write = (name: string, text: string) => (fs.writeFileSync(path.join(dir, name), text), path.join(dir, name));
  return {
    dir,
    cert: write('client.pem', pem('CERTIFICATE', 'Y2xpZW50')),
    key: write('client.key', pem(['PRIVATE', 'KEY'].join(' '), 'a2V5')),
    ca: write('ca.pem', pem('CERTIFICATE', 'Y2E=')),
  };
}

async function tlsFailure(temporal: TemporalConfig): Promise<TemporalTlsFileError> {
  const err = await temporalConnectionSettings(temporal).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TemporalTlsFileError);
  return err as TemporalTlsFileError;
}

describe('Temporal connection settings', () => {
  it('connects without TLS when no certificate, CA, server name or API key is set', async () => {
    expect(await temporalConnectionSettings(plain)).toEqual({ connection: { address: '127.0.0.1:1' }, namespace: 'family' });
    expect(describeTemporalAuth(plain)).toBe('no TLS');
  });

  it('reads the client certificate, key and CA files for mTLS, with the server name override', async () => {
    const f = pemFiles();
    const temporal = { ...plain, tls: { certPath: f.cert, keyPath: f.key, caPath: f.ca, serverName: 'temporal.internal' } };
    const { connection } = await temporalConnectionSettings(temporal);
    expect(connection).toEqual({
      address: '127.0.0.1:1',
      tls: {
        clientCertPair: { crt: fs.readFileSync(f.cert), key: fs.readFileSync(f.key) },
        serverRootCACertificate: fs.readFileSync(f.ca),
        serverNameOverride: 'temporal.internal',
      },
    });
    expect(describeTemporalAuth(temporal)).toBe(`mTLS with client certificate ${f.cert}`);
  });

  it('turns TLS on for an API key (Temporal Cloud), trusting the system CAs', async () => {
    const temporal = { ...plain, apiKey: API_KEY };
    expect(await temporalConnectionSettings(temporal)).toEqual({ connection: { address: '127.0.0.1:1', tls: {}, apiKey: API_KEY }, namespace: 'family' });
    expect(describeTemporalAuth(temporal)).toBe('TLS, API key');
  });

  it('turns TLS on for TEMPORAL_TLS_SERVER_NAME alone, from the environment', async () => {
    const config = loadConfig({ TEMPORAL_ADDRESS: '10.0.0.5:7233', TEMPORAL_TLS_SERVER_NAME: 'temporal.example.com' });
    expect((await temporalConnectionSettings(config.temporal)).connection).toEqual({ address: '10.0.0.5:7233', tls: { serverNameOverride: 'temporal.example.com' } });
  });

  it('names the variable, the path and what to do when a file is missing', async () => {
    const f = pemFiles();
    const missing = path.join(f.dir, 'nope.pem');
    const err = await tlsFailure({ ...plain, tls: { certPath: missing, keyPath: f.key, caPath: undefined, serverName: undefined } });
    expect(err.variable).toBe('TEMPORAL_TLS_CERT');
    expect(err.message).toBe(
      `TEMPORAL_TLS_CERT=${missing}: cannot read the client certificate (no such file); expected a readable PEM file; ` +
        "fix the path or the file's permissions for the user running fbb/the worker, or unset TEMPORAL_TLS_CERT",
    );
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('says so when a path is a directory', async () => {
    const f = pemFiles();
    const err = await tlsFailure({ ...plain, tls: { certPath: undefined, keyPath: undefined, caPath: f.dir, serverName: undefined } });
    expect(err.message).toMatch(new RegExp(`^TEMPORAL_TLS_CA=${f.dir}: cannot read the CA certificate that signed the server's certificate \\(it is a directory\\); `));
  });

  it('spots a certificate and key given the other way round, without printing the key', async () => {
    const f = pemFiles();
    const err = await tlsFailure({ ...plain, tls: { certPath: f.key, keyPath: f.cert, caPath: undefined, serverName: undefined } });
    expect(err.message).toBe(
      `TEMPORAL_TLS_CERT=${f.key}: expected the client certificate in PEM form ("-----BEGIN CERTIFICATE-----"), found a PEM "PRIVATE KEY" block; ` +
        'are TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY swapped?; point TEMPORAL_TLS_CERT at the PEM file (convert DER with "openssl x509 -inform der" or "openssl pkey -inform der")',
    );
    expect(err.message).not.toContain('a2V5');
  });

  it('rejects an empty or DER key file, saying what it found', async () => {
    const f = pemFiles();
    fs.writeFileSync(f.key, '');
    expect((await tlsFailure({ ...plain, tls: { certPath: f.cert, keyPath: f.key, caPath: undefined, serverName: undefined } })).message).toMatch(
      new RegExp(`^TEMPORAL_TLS_KEY=.*: expected the client certificate's private key in PEM form \\("${pemBegin(['PRIVATE', 'KEY'].join(' '))}"\\), found an empty file; point TEMPORAL_TLS_KEY`),
    );
    fs.writeFileSync(f.key, Buffer.from([0x30, 0x82, 0x01, 0x22, 0x02, 0x01]));
    expect((await tlsFailure({ ...plain, tls: { certPath: f.cert, keyPath: f.key, caPath: undefined, serverName: undefined } })).message).toMatch(
      /found 6 bytes without a PEM header \(DER or another format\?\); point TEMPORAL_TLS_KEY/,
    );
  });

  it('takes the API key out of any text it is given', () => {
    expect(withoutApiKey(`bad header Bearer ${API_KEY} twice ${API_KEY}`, { ...plain, apiKey: API_KEY })).toBe('bad header Bearer *** twice ***');
  });
});

describe('the CLI and the worker connect with these settings', () => {
  let pki: Pki;
  beforeAll(async () => {
    pki = await makePki();
  });

  it('the worker presents its client certificate, checks the server name against the CA and sends the API key', async () => {
    const server = await standInServer(pki);
    try {
      const temporal: TemporalConfig = {
        ...plain,
        address: `127.0.0.1:${server.port}`,
        tls: { certPath: pki.clientCert, keyPath: pki.clientKey, caPath: pki.ca, serverName: 'temporal.test' },
        apiKey: API_KEY,
      };
      // The stand-in answers UNIMPLEMENTED to GetSystemInfo, so the connection fails after the handshake.
      const err = await connectWorker(temporal).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.message).toMatch(new RegExp(`^cannot connect to Temporal at 127\\.0\\.0\\.1:${server.port} \\(mTLS with client certificate .*client\\.pem, API key\\): .*GetSystemInfo`));
      expect(err?.message).not.toContain(API_KEY);
      expect(server.seen).toEqual([
        { servername: 'temporal.test', clientCert: 'fbb worker', authorized: true },
        { path: '/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo', authorization: `Bearer ${API_KEY}` },
      ]);
    } finally {
      await server.close();
    }
  });

  it('the CLI does the same', async () => {
    const server = await standInServer(pki);
    try {
      const temporal: TemporalConfig = {
        ...plain,
        address: `127.0.0.1:${server.port}`,
        tls: { certPath: pki.clientCert, keyPath: pki.clientKey, caPath: pki.ca, serverName: 'temporal.test' },
        apiKey: API_KEY,
      };
      const client = await connectTemporal(temporal);
      await client.connection.close();
      expect(server.seen).toEqual([
        { servername: 'temporal.test', clientCert: 'fbb worker', authorized: true },
        { path: '/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo', authorization: `Bearer ${API_KEY}` },
      ]);
    } finally {
      await server.close();
    }
  });

  it('the worker refuses a server whose certificate the configured CA did not sign', async () => {
    const server = await standInServer(pki);
    try {
      const other = await makePki();
      const temporal: TemporalConfig = { ...plain, address: `127.0.0.1:${server.port}`, tls: { certPath: pki.clientCert, keyPath: pki.clientKey, caPath: other.ca, serverName: 'temporal.test' }, apiKey: undefined };
      await expect(connectWorker(temporal)).rejects.toThrow(/^cannot connect to Temporal at .*: .*(certificate|UnknownIssuer)/i);
      expect(server.seen.filter((s) => 'path' in s)).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('the CLI exits 2 with the file error when a certificate cannot be read, before connecting', async () => {
    const f = pemFiles();
    const err = await connectTemporal({ ...plain, tls: { certPath: path.join(f.dir, 'gone.pem'), keyPath: f.key, caPath: undefined, serverName: undefined } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(ExitCode.badInput);
    expect((err as CliError).message).toMatch(/^TEMPORAL_TLS_CERT=.*gone\.pem: cannot read the client certificate \(no such file\)/);
  });

  it('the CLI exits 3 when nothing answers, naming the address and the auth but never the API key', async () => {
    // Nothing listens on port 1: given up after 1 s (TEMPORAL_CONNECT_TIMEOUT_SECONDS=1), not the default 5 s.
    const err = await connectTemporal({ ...plain, apiKey: API_KEY, connectTimeoutMs: 1_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(ExitCode.cannotConnect);
    expect((err as CliError).message).toMatch(/^cannot connect to Temporal at 127\.0\.0\.1:1 \(TLS, API key\): .*add --local to run in this process$/);
    expect((err as CliError).message).not.toContain(API_KEY);
  });
});

interface Pki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A CA, a server certificate for "temporal.test" and a client certificate "fbb worker", made by openssl. */
async function makePki(): Promise<Pki> {
  const dir = tempDir('pki');
  const f = (name: string) => path.join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await execa('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=fbb test CA']);
  for (const [name, cn, ext] of [['server', 'temporal.test', 'subjectAltName=DNS:temporal.test'], ['client', 'fbb worker', 'extendedKeyUsage=clientAuth']] as const) {
    fs.writeFileSync(f(`${name}.ext`), `${ext}\n`);
    await execa('openssl', ['req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`]);
    await execa('openssl', ['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '2', '-extfile', f(`${name}.ext`)]);
  }
  return { ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

/** A handshake (server name asked for, client certificate's CN) or a request (path, Authorization header). */
type Seen = Record<string, unknown>;

/** An HTTP/2 TLS server requiring a client certificate from `pki`'s CA; records handshakes and requests, answers every gRPC call UNIMPLEMENTED. */
async function standInServer(pki: Pki): Promise<{ port: number; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = http2.createSecureServer({
    key: fs.readFileSync(pki.serverKey),
    cert: fs.readFileSync(pki.serverCert),
    ca: fs.readFileSync(pki.ca),
    requestCert: true,
    rejectUnauthorized: true,
  });
  server.on('secureConnection', (socket: import('node:tls').TLSSocket) => {
    seen.push({ servername: socket.servername, clientCert: socket.getPeerCertificate().subject?.CN, authorized: socket.authorized });
  });
  server.on('stream', (stream, headers) => {
    seen.push({ path: headers[':path'], authorization: headers.authorization });
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': 'stand-in, not Temporal' }, { endStream: true });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
