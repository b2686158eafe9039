// A TCP proxy in front of the test database, so a test can take the database away from a process (as a network
// partition or a database outage would) and give it back, without stopping the server other tests share.
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpProxy {
  /** `uri` with its host and port replaced by the proxy's. */
  uri: string;
  /** Drops every open connection and refuses new ones (accepted, then reset) until `restore()`. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export interface TcpProxyOptions {
  /** Makes, for each client connection, a reader of the bytes the client sends (they are forwarded unchanged). */
  readClient?: () => (chunk: Buffer) => void;
}

export async function startTcpProxy(targetUri: string, opts: TcpProxyOptions = {}): Promise<TcpProxy> {
  const target = new URL(targetUri);
  const sockets = new Set<net.Socket>();
  let down = false;
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const server = net.createServer((client) => {
    track(client);
    if (down) return void client.resetAndDestroy();
    const upstream = net.connect(Number(target.port || 27017), target.hostname);
    track(upstream);
    if (opts.readClient) client.on('data', opts.readClient());
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  return {
    uri: await listenInPlaceOf(server, targetUri),
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Starts `server` on a free 127.0.0.1 port and resolves with `targetUri` pointed at it instead (a proxy's URI). */
async function listenInPlaceOf(server: net.Server, targetUri: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const proxied = new URL(targetUri);
  proxied.hostname = '127.0.0.1';
  proxied.port = String((server.address() as AddressInfo).port);
  return proxied.toString();
}
