/** Free TCP ports on 127.0.0.1 for tests that bind real sockets. */
import { createServer, type Server } from 'node:net';

/**
 * `n` distinct ports that were free a moment ago: each found by binding 127.0.0.1:0, all held open
 * together (so they differ) and released before returning. Another process could take one in
 * between; tests bind them right away.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no port bound');
      ports.push(address.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
