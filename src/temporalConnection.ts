// How the worker and the CLI reach Temporal: one builder for address, namespace, mTLS and API key.
import fs from 'node:fs/promises';
import type { TLSConfig } from '@temporalio/client';
import type { TemporalConfig } from './config';

/** What both Connection.connect (CLI) and NativeConnection.connect (worker) take, plus the namespace for Client and Worker. */
export interface TemporalConnectionSettings {
  connection: { address: string; tls?: TLSConfig; apiKey?: string };
  namespace: string;
}

/** How long a client connection keeps trying when the config has no TEMPORAL_CONNECT_TIMEOUT_SECONDS (one built by hand). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** A TLS file named by TEMPORAL_TLS_* cannot be used; the message names the variable, the path, what was found and what to do. */
export class TemporalTlsFileError extends Error {
  override readonly name = 'TemporalTlsFileError';
  constructor(
    readonly variable: TlsVariable,
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

type TlsVariable = 'TEMPORAL_TLS_CERT' | 'TEMPORAL_TLS_KEY' | 'TEMPORAL_TLS_CA';

/**
 * Connection options from the config: TLS when a client certificate, a CA, a server name or an
 * API key is set (Temporal Cloud needs TLS), with the PEM files read now so a bad path fails
 * here, by name, rather than as a TLS handshake error.
 */
export async function temporalConnectionSettings(temporal: TemporalConfig): Promise<TemporalConnectionSettings> {
  const connection: TemporalConnectionSettings['connection'] = { address: temporal.address };
  const tls = temporal.tls;
  if (tls !== undefined || temporal.apiKey !== undefined) {
    const options: TLSConfig = {};
    if (tls?.certPath !== undefined && tls.keyPath !== undefined) {
      options.clientCertPair = { crt: await readPem('TEMPORAL_TLS_CERT', tls.certPath), key: await readPem('TEMPORAL_TLS_KEY', tls.keyPath) };
    }
    if (tls?.caPath !== undefined) options.serverRootCACertificate = await readPem('TEMPORAL_TLS_CA', tls.caPath);
    if (tls?.serverName !== undefined) options.serverNameOverride = tls.serverName;
    connection.tls = options;
  }
  if (temporal.apiKey !== undefined) connection.apiKey = temporal.apiKey;
  return { connection, namespace: temporal.namespace };
}

/** How the connection authenticates, for logs and error messages; never contains the API key. */
export function describeTemporalAuth(temporal: TemporalConfig): string {
  const parts: string[] = [];
  if (temporal.tls?.certPath !== undefined) parts.push(`mTLS with client certificate ${temporal.tls.certPath}`);
  else if (temporal.tls !== undefined || temporal.apiKey !== undefined) parts.push('TLS');
  else parts.push('no TLS');
  if (temporal.apiKey !== undefined) parts.push('API key');
  return parts.join(', ');
}

/** `text` with the API key replaced by ***, for messages built from errors the SDK raised. */
export function withoutApiKey(text: string, temporal: TemporalConfig): string {
  return temporal.apiKey === undefined ? text : text.split(temporal.apiKey).join('***');
}

const WANTED: Record<TlsVariable, { what: string; kind: PemKind }> = {
  TEMPORAL_TLS_CERT: { what: 'the client certificate', kind: 'certificate' },
  TEMPORAL_TLS_KEY: { what: "the client certificate's private key", kind: 'private key' },
  TEMPORAL_TLS_CA: { what: "the CA certificate that signed the server's certificate", kind: 'certificate' },
};

type PemKind = 'certificate' | 'private key';

async function readPem(variable: TlsVariable, file: string): Promise<Buffer> {
  const { what, kind } = WANTED[variable];
  let data: Buffer;
  try {
    data = await fs.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new TemporalTlsFileError(
      variable,
      file,
      `${variable}=${file}: cannot read ${what} (${why}); expected a readable PEM file; fix the path or the file's permissions for the user running fbb/the worker, or unset ${variable}`,
      { cause: err },
    );
  }
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(data.toString('latin1'))?.[1];
  const found = kindOf(label);
  if (found !== kind) {
    const seen = data.length === 0 ? 'an empty file' : label === undefined ? `${data.length} bytes without a PEM header (DER or another format?)` : `a PEM "${label}" block`;
    const swapped = variable !== 'TEMPORAL_TLS_CA' && found !== undefined ? '; are TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY swapped?' : '';
    throw new TemporalTlsFileError(
      variable,
      file,
      `${variable}=${file}: expected ${what} in PEM form ("-----BEGIN ${kind === 'certificate' ? 'CERTIFICATE' : 'PRIVATE KEY'}-----"), found ${seen}${swapped}; ` +
        `point ${variable} at the PEM file (convert DER with "openssl x509 -inform der" or "openssl pkey -inform der")`,
    );
  }
  return data;
}

/** What a PEM block label holds; the file's contents never reach a message, only its first label. */
function kindOf(label: string | undefined): PemKind | undefined {
  if (label === 'CERTIFICATE' || label === 'TRUSTED CERTIFICATE') return 'certificate';
  if (label?.endsWith('PRIVATE KEY')) return 'private key';
  return undefined;
}
