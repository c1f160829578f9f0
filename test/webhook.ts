// A real webhook receiver for the notification tests: an HTTP server on 127.0.0.1 that keeps what it is sent.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NotifyBody } from '../src/activities/notify';

/** One POST the receiver took. */
export interface Received {
  path: string;
  raw: string;
  body: NotifyBody;
}

/** A running receiver: its URL (with a token in path and query, as real webhooks have), what it got, and stop(). */
export interface Receiver {
  url: string;
  token: string;
  received: Received[];
  stop(): Promise<void>;
}

/** Starts a receiver; `token` goes into the URL's path and query, as Slack's and ntfy's do. */
export async function startReceiver(token: string): Promise<Receiver> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', raw, body: JSON.parse(raw) as NotifyBody });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/${token}?key=${token}`,
    token,
    received,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A URL where nothing listens: a port that was free a moment ago. */
export async function downUrl(token: string): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/hooks/${token}`;
}

/** A workflow history as text, payloads decoded, to search for strings that must not be in it. */
export function historyText(history: unknown): string {
  return JSON.stringify(history, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('utf8') : value));
}
