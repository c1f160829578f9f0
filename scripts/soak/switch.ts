// A TCP forwarder to a server that can be switched off: every open connection is cut and new ones
// are refused until it is switched on again ("S3 down" without losing s3rver's data or port).
import net from 'node:net';

/** A forwarder with an off switch. */
export interface Switch {
  endpoint: string;
  off(): void;
  on(): void;
  close(): Promise<void>;
}

/** Forwards 127.0.0.1:<own port> to `target` (http://host:port) while on. */
export async function startSwitch(target: string): Promise<Switch> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<net.Socket>();
  let up = true;
  const server = net.createServer((client) => {
    if (!up) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as net.AddressInfo;
  const cutAll = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    endpoint: `http://127.0.0.1:${own}`,
    off() {
      up = false;
      cutAll();
    },
    on() {
      up = true;
    },
    close() {
      cutAll();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
