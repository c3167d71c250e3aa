/** A running member: Raft driver, store and client endpoint together (what `axis serve` starts). */
import { ZmqTransport } from '../transport/index.js';
import { ClientListener } from './listener.js';
import { HealthCheck } from './health.js';
import { type Logger, memberLogger } from './logger.js';
import { Member, type TransportFactory } from './member.js';
import { MetricsEndpoint } from './metrics-endpoint.js';
import { ApiService } from './service.js';
import type { ClientLimits } from './limits.js';
import type { MemberConfig } from './config.js';

export * from './config.js';
export { Member, type MemberStatus, type TransportFactory } from './member.js';
export { ApiService, MAX_REQUEST_BYTES } from './service.js';
export { type ClientLimits, DEFAULT_LIMITS } from './limits.js';
export { ClientListener, type OutboxStats } from './listener.js';
export { type Logger, type LogLevel, memberLogger } from './logger.js';
export { type Health, HealthCheck } from './health.js';

export interface Server {
  member: Member;
  service: ApiService;
  /** The client endpoint (none with `listen: false`). */
  listener: ClientListener | undefined;
  /** Transfers leadership away if leading, then closes the endpoints and the store. */
  stop(): Promise<void>;
}

export interface ServeOptions {
  /** Peer transport (default: ZeroMQ). Tests pass an in-memory network's. */
  transport?: TransportFactory;
  /** Serve clients over ZeroMQ at config.clientListen (default true). */
  listen?: boolean;
  /** The member hit an unrecoverable error (a bug or a broken disk): it has stopped serving. */
  onFatal?: (err: Error) => void;
  /** The member's log (default: JSON lines on stderr at config.logLevel). */
  logger?: Logger;
  /** What clients may hold (default DEFAULT_LIMITS: 1,000 watches per connection, 10,000 per member, ...). */
  limits?: Partial<ClientLimits>;
}

export async function serve(config: MemberConfig, options: ServeOptions = {}): Promise<Server> {
  const peerKeys = config.peerKeys;
  const log = options.logger ?? memberLogger(config.name, { level: config.logLevel });
  const member = await Member.start(config, options.transport ?? ((o) => new ZmqTransport({ ...o, ...(peerKeys ? { curve: peerKeys } : {}) })), options.onFatal, log);
  const service = new ApiService(member, options.limits);
  let listener: ClientListener | undefined;
  let metrics: MetricsEndpoint | undefined;
  try {
    if (options.listen !== false) {
      const l = new ClientListener(service, config.clientListen, log, config.clientKeys);
      await l.start();
      listener = l; // only a started listener is closed
    }
    if (config.metricsListen) {
      metrics = monitor(member, service);
      await metrics.start(config.metricsListen);
    }
  } catch (err) {
    await member.stop({ transfer: false });
    await listener?.close();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    member,
    service,
    listener,
    stop() {
      stopping ??= (async () => {
        // Watches first: their clients move to another member while this one hands over.
        service.close();
        await metrics?.close();
        await member.stop();
        await listener?.close();
      })();
      return stopping;
    },
  };
}

/** The /metrics and /health endpoint of `member`: its gauges read the member as it is at each scrape. */
function monitor(member: Member, service: ApiService): MetricsEndpoint {
  // The store is closed for a moment while a snapshot is installed: nothing to read then.
  const store = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch {
      return undefined;
    }
  };
  member.metrics.observe({
    hasLeader: () => member.leaderId !== 0,
    isLeader: () => member.leaderId === member.id,
    dbSize: () => store(() => member.store.status()),
    watchers: () => service.hub.size,
    leases: () => store(() => member.store.leases().length),
  });
  // Applying may stall for two election timeouts (a slow disk, a snapshot install) before /health says so.
  return new MetricsEndpoint(member.metrics, new HealthCheck(member, Math.max(1000, 2 * member.electionTimeoutMs)));
}
