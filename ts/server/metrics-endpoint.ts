/**
 * A member's monitoring endpoint (`--metrics-listen http://127.0.0.1:PORT`): plain HTTP, GET only.
 * `/metrics` is the Prometheus text format; `/health` answers 200 with JSON while the member has a
 * leader and is applying, 503 with the same JSON (and a reason) otherwise.
 */
import http from 'node:http';
import { parseEndpoint } from './config.js';
import type { HealthCheck } from './health.js';
import type { MemberMetrics } from './metrics.js';

export class MetricsEndpoint {
  private readonly server: http.Server;

  constructor(
    private readonly metrics: MemberMetrics,
    private readonly health: HealthCheck,
  ) {
    this.server = http.createServer((req, res) => void this.answer(req, res));
  }

  /** Listens at `url`, an http://host:port the configuration checked. */
  async start(url: string): Promise<void> {
    const { host, port } = parseEndpoint(url)!;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async answer(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const route = (req.url ?? '/').split('?')[0];
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (route === '/metrics') {
        const text = await this.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(text);
      } else if (route === '/health') {
        const h = this.health.check();
        res.writeHead(h.health ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(h)}\n`);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /health\n');
      }
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`${(err as Error).message}\n`);
    }
  }
}
