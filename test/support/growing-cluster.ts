/**
 * An in-process cluster whose members can be added and removed: members over an in-memory peer
 * network, clients (and snapshot pulls) over ZeroMQ on 127.0.0.1, logs compacted every few dozen
 * entries. `overrides` change any member setting; `observe` gives each member a /metrics address
 * and keeps the lines it logs.
 */
import { type Client, type ConnectOptions, connect } from '../../ts/client/index.js';
import { type ConfigInput, type Server, memberLogger, resolveConfig, serve } from '../../ts/server/index.js';
import { MemoryNetwork } from '../../ts/transport/index.js';
import { freePorts } from './ports.js';

export interface Node {
  name: string;
  peerUrl: string;
  clientUrl: string;
  dataDir: string;
  server?: Server | undefined;
  fatal?: Error;
  /** With `observe`: where the member serves /metrics and /health, and every line it logged (JSON). */
  metricsUrl?: string;
  log?: string[];
}

/** A cluster whose members can be added and removed: n initial members, room for `spare` more. */
export class GrowingCluster {
  readonly net = new MemoryNetwork();
  readonly nodes: Node[] = [];
  private readonly clients: Client[] = [];
  clusterId = 0;

  private constructor(
    private readonly dir: () => Promise<string>,
    private readonly overrides: Partial<ConfigInput>,
  ) {}

  static async create(dir: () => Promise<string>, n: number, spare: number, overrides: Partial<ConfigInput> = {}, options: { observe?: boolean } = {}): Promise<GrowingCluster> {
    const c = new GrowingCluster(dir, overrides);
    const ports = await freePorts(3 * (n + spare));
    for (let i = 0; i < n + spare; i++) {
      const [peer, client, metrics] = ports.slice(3 * i, 3 * i + 3);
      c.nodes.push({
        name: `m${i + 1}`, peerUrl: `tcp://127.0.0.1:${peer}`, clientUrl: `tcp://127.0.0.1:${client}`, dataDir: await c.dir(),
        ...(options.observe ? { metricsUrl: `http://127.0.0.1:${metrics}`, log: [] } : {}),
      });
    }
    const initial = c.nodes.slice(0, n).map((x) => `${x.name}=${x.peerUrl}`).join(',');
    for (let i = 0; i < n; i++) await c.start(i, initial, 'new');
    c.clusterId = c.nodes[0]!.server!.member.clusterId;
    return c;
  }

  async start(i: number, initialCluster: string, state: 'new' | 'existing'): Promise<Server> {
    const x = this.nodes[i]!;
    const config = resolveConfig({
      name: x.name, dataDir: x.dataDir, peerListen: x.peerUrl, clientListen: x.clientUrl, initialCluster,
      tickMs: 20, electionTicks: 10, durability: 'nosync', snapshotCount: 40, snapshotCatchupEntries: 10,
      initialClusterState: state, ...(state === 'existing' ? { clusterId: this.clusterId } : {}),
      ...(x.metricsUrl ? { metricsListen: x.metricsUrl } : {}),
      ...this.overrides,
    });
    const log = x.log;
    x.server = await serve(config, {
      transport: (o) => this.net.transport(o),
      onFatal: (err) => (x.fatal = err),
      ...(log ? { logger: memberLogger(x.name, { destination: { write: (line: string) => void log.push(line) } }) } : {}),
    });
    return x.server;
  }

  async stop(i: number): Promise<void> {
    const s = this.nodes[i]!.server;
    this.nodes[i]!.server = undefined;
    await s?.stop();
  }

  async client(endpoints = this.running().map((x) => x.clientUrl), options: Partial<ConnectOptions> = {}): Promise<Client> {
    const cl = await connect({ ...options, endpoints, timeoutMs: 15_000, attemptTimeoutMs: 1000 });
    this.clients.push(cl);
    return cl;
  }

  running(): Node[] {
    return this.nodes.filter((x) => x.server && !x.fatal);
  }

  /** Waits until every running member has applied as far as the first one's commit index. */
  async converge(ms = 20_000): Promise<void> {
    const until = Date.now() + ms;
    for (;;) {
      const st = this.running().map((x) => x.server!.member.status());
      const commit = Math.max(...st.map((s) => s.commitIndex));
      if (st.every((s) => s.appliedIndex >= commit && s.leader !== 0)) return;
      if (Date.now() > until) {
        // What the leader thinks of each member, to tell why one lags.
        const leader = this.running().find((x) => x.server!.member.status().role === 'leader')?.server?.member as unknown as { raft?: { tracker: { progress: Map<number, unknown> }; log: { firstIndex(): number } } } | undefined;
        const progress = leader?.raft ? JSON.stringify([...leader.raft.tracker.progress].map(([id, p]) => [id.toString(16), p]), (k, v) => (k === 'inflights' ? undefined : v)) : '';
        throw new Error(`members did not converge: ${JSON.stringify(st.map((s) => [s.name, s.appliedIndex, s.commitIndex, s.leader]))}; leader's log starts at ${leader?.raft?.log.firstIndex()}; progress ${progress}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    for (const cl of this.clients) await cl.close();
    for (let i = 0; i < this.nodes.length; i++) await this.stop(i);
  }
}


