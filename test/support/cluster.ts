/** In-process clusters for tests: members with real ZeroMQ sockets on 127.0.0.1 (or an in-memory network), fresh data dirs. */
import { connect, type Client, type ConnectOptions } from '../../ts/client/index.js';
import type { CurveKeys } from '../../ts/security/index.js';
import { type ClientLimits, resolveConfig, serve, type Server, type TransportFactory } from '../../ts/server/index.js';
import { freePorts } from './ports.js';
import { MemoryNetwork } from '../../ts/transport/index.js';

export interface TestCluster {
  servers: (Server | undefined)[];
  names: string[];
  endpoints: string[];
  dirs: string[];
  /** (Re)starts member i from its data dir. */
  start(i: number): Promise<Server>;
  stop(i: number, options?: { transfer?: boolean }): Promise<void>;
  client(options?: { endpoints?: string[]; timeoutMs?: number; attemptTimeoutMs?: number; watchKeepAliveMs?: number; curve?: ConnectOptions['curve'] }): Promise<Client>;
  /** Index of the member that leads (as every running member agrees), waiting up to `ms`. */
  leader(ms?: number): Promise<number>;
  close(): Promise<void>;
}

export async function startCluster(
  n: number,
  dir: () => Promise<string>,
  options: {
    transport?: TransportFactory; tickMs?: number; electionTicks?: number; leaseCheckpointIntervalMs?: number;
    /** CURVE: the peer keys every member shares, the client endpoint's keys, and the keys clients connect with. */
    peerKeys?: CurveKeys; clientKeys?: CurveKeys; clientCurve?: ConnectOptions['curve'];
    /** What clients may hold (ts/server/limits.ts); the defaults otherwise. */
    limits?: Partial<ClientLimits>;
  } = {},
): Promise<TestCluster> {
  const ports = await freePorts(2 * n);
  const names = Array.from({ length: n }, (_, i) => `m${i + 1}`);
  const peerUrls = names.map((_, i) => `tcp://127.0.0.1:${ports[2 * i]}`);
  const endpoints = names.map((_, i) => `tcp://127.0.0.1:${ports[2 * i + 1]}`);
  const initialCluster = names.map((nm, i) => `${nm}=${peerUrls[i]}`).join(',');
  const dirs: string[] = [];
  for (let i = 0; i < n; i++) dirs.push(await dir());
  const servers: (Server | undefined)[] = new Array(n).fill(undefined);
  const clients: Client[] = [];
  const c: TestCluster = {
    servers,
    names,
    endpoints,
    dirs,
    async start(i) {
      const config = resolveConfig({
        name: names[i]!, dataDir: dirs[i]!, peerListen: peerUrls[i]!, clientListen: endpoints[i]!, initialCluster,
        tickMs: options.tickMs ?? 20, electionTicks: options.electionTicks ?? 10, durability: 'nosync',
        ...(options.leaseCheckpointIntervalMs ? { leaseCheckpointIntervalMs: options.leaseCheckpointIntervalMs } : {}),
        ...(options.peerKeys ? { peerKeys: options.peerKeys } : {}),
        ...(options.clientKeys ? { clientKeys: options.clientKeys } : {}),
      });
      const s = await serve(config, { ...(options.transport ? { transport: options.transport } : {}), ...(options.limits ? { limits: options.limits } : {}) });
      servers[i] = s;
      return s;
    },
    async stop(i, o) {
      const s = servers[i];
      servers[i] = undefined;
      await s?.member.stop(o);
      await s?.stop();
    },
    async client(o = {}) {
      const cl = await connect({
        endpoints: o.endpoints ?? endpoints, timeoutMs: o.timeoutMs ?? 10000, attemptTimeoutMs: o.attemptTimeoutMs ?? 1000,
        ...(o.watchKeepAliveMs ? { watchKeepAliveMs: o.watchKeepAliveMs } : {}),
        ...((o.curve ?? options.clientCurve) ? { curve: (o.curve ?? options.clientCurve)! } : {}),
      });
      clients.push(cl);
      return cl;
    },
    async leader(ms = 10000) {
      const until = Date.now() + ms;
      for (;;) {
        const running = servers.filter((s): s is Server => s !== undefined);
        const leads = new Set(running.map((s) => s.member.leaderId));
        if (leads.size === 1 && !leads.has(0)) {
          const id = [...leads][0];
          const i = servers.findIndex((s) => s?.member.id === id);
          if (i >= 0) return i;
        }
        if (Date.now() > until) throw new Error(`no agreed leader within ${ms} ms`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async close() {
      for (const cl of clients) await cl.close();
      for (let i = 0; i < n; i++) await c.stop(i, { transfer: false });
    },
  };
  for (let i = 0; i < n; i++) await c.start(i);
  return c;
}

/**
 * Runs `fn` on a fresh 3-member cluster whose peers talk over an in-memory network (members in
 * this process, clients over ZeroMQ on 127.0.0.1), once it has a leader; closes it afterwards.
 */
export async function withMemoryCluster(
  dir: () => Promise<string>,
  fn: (c: TestCluster, net: MemoryNetwork) => Promise<void>,
  options: { leaseCheckpointIntervalMs?: number; members?: number } = {},
): Promise<void> {
  const net = new MemoryNetwork();
  const c = await startCluster(options.members ?? 3, dir, {
    transport: (o) => net.transport(o),
    ...(options.leaseCheckpointIntervalMs ? { leaseCheckpointIntervalMs: options.leaseCheckpointIntervalMs } : {}),
  });
  try {
    await c.leader();
    await fn(c, net);
  } finally {
    await c.close();
  }
}
