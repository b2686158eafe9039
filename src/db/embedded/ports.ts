// Loopback ports for the embedded servers.
import net from 'node:net';

/**
 * The ports an owner's servers hold or are about to bind. A port picked as free stays free only until someone
 * binds it: two servers starting at once must not be handed the same one.
 */
export class PortReservations {
  readonly #held = new Set<number>();

  /** A free port on 127.0.0.1, held until released. */
  async pick(): Promise<number> {
    for (let i = 0; i < 20; i++) {
      const port = await new Promise<number>((resolve, reject) => {
        const server = net.createServer();
        server.unref();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
          const { port: p } = server.address() as net.AddressInfo;
          server.close(() => resolve(p));
        });
      });
      if (!this.#held.has(port)) {
        this.#held.add(port);
        return port;
      }
    }
    throw new Error('could not find a free TCP port on 127.0.0.1');
  }

  /** Holds a port the caller chose itself. */
  hold(port: number): void {
    this.#held.add(port);
  }

  release(port: number): void {
    this.#held.delete(port);
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:port (within a second). */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
