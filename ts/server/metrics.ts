/**
 * A member's Prometheus metrics (prom-client), in a registry of its own so that several members in
 * one process keep theirs apart. Counters and histograms are fed by the member as it runs; gauges
 * are read from the member, its store and its watch hub when scraped.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, exponentialBuckets } from 'prom-client';
import { type Message, MessageType, type NodeId } from '../raft/types.js';

/** What the gauges read at a scrape (undefined: not known now, e.g. the store is being replaced). */
export interface MemberGauges {
  hasLeader(): boolean;
  isLeader(): boolean;
  dbSize(): { dbSize: number; dbSizeInUse: number } | undefined;
  watchers(): number;
  leases(): number | undefined;
}

/** 0.1 ms to about 6.5 s: an fdatasync is ~0.3 ms here, a stalled disk seconds. */
const DURATION_BUCKETS = exponentialBuckets(0.0001, 2, 17);

export class MemberMetrics {
  readonly registry = new Registry();
  private readonly registers = [this.registry];
  readonly proposalsCommitted = new Counter({ name: 'axis_server_proposals_committed_total', help: 'Raft entries this member saw committed', registers: this.registers });
  readonly proposalsApplied = new Counter({ name: 'axis_server_proposals_applied_total', help: 'Raft entries this member applied to its store', registers: this.registers });
  readonly proposalsFailed = new Counter({ name: 'axis_server_proposals_failed_total', help: 'Writes proposed through this member that it gave up on (timeout, refused, stopping)', registers: this.registers });
  readonly leaderChanges = new Counter({ name: 'axis_server_leader_changes_seen_total', help: 'Times this member saw a new leader', registers: this.registers });
  readonly applyDuration = new Histogram({ name: 'axis_server_apply_duration_seconds', help: 'Applying a batch of committed entries to the store, until visible (flushed after; the Raft log is durable)', buckets: DURATION_BUCKETS, registers: this.registers });
  readonly persistDuration = new Histogram({ name: 'axis_disk_persist_duration_seconds', help: 'Persisting a Ready (raft log entries, hard state) until durable: the journal fdatasync and the group commit', buckets: DURATION_BUCKETS, registers: this.registers });
  readonly peerRoundTrip = new Histogram({ name: 'axis_network_peer_round_trip_time_seconds', help: 'From a heartbeat the leader sends a peer to the peer\'s response', labelNames: ['to'], buckets: DURATION_BUCKETS, registers: this.registers });
  /** When the oldest unanswered heartbeat to each peer left (ms, performance.now()). */
  private readonly heartbeats = new Map<NodeId, number>();

  /** The gauges, read through `g` at each scrape, and the process's own (CPU, memory, event loop lag, GC). */
  observe(g: MemberGauges): void {
    collectDefaultMetrics({ register: this.registry });
    this.gauge('axis_server_has_leader', 'Whether this member knows a leader (1) or not (0)', () => (g.hasLeader() ? 1 : 0));
    this.gauge('axis_server_is_leader', 'Whether this member leads (1) or not (0)', () => (g.isLeader() ? 1 : 0));
    this.gauge('axis_mvcc_db_total_size_in_bytes', 'Bytes of the data file the store has used', () => g.dbSize()?.dbSize);
    this.gauge('axis_mvcc_db_total_size_in_use_in_bytes', 'Bytes of the data file in use (the rest is free pages for reuse)', () => g.dbSize()?.dbSizeInUse);
    this.gauge('axis_mvcc_watcher_total', 'Watches open on this member', () => g.watchers());
    this.gauge('axis_server_leases', 'Leases the store holds', () => g.leases());
  }

  private gauge(name: string, help: string, read: () => number | undefined): void {
    const gauge: Gauge = new Gauge({
      name,
      help,
      registers: this.registers,
      collect: () => {
        const v = read();
        if (v !== undefined) gauge.set(v);
      },
    });
  }

  /** Resolves as `p` does, recording how long it took when it succeeds. */
  timed<T>(h: Histogram, p: Promise<T>): Promise<T> {
    const end = h.startTimer();
    return p.then((v) => {
      end();
      return v;
    });
  }

  /**
   * Peer round trips, measured on Raft's own heartbeats (the transport has no probe of its own):
   * the leader's heartbeat to a peer and that peer's response. A heartbeat lost on the way is
   * forgotten after `staleMs`, so one loss does not read as a long round trip for ever.
   */
  sent(ms: Message[], now: number, staleMs: number): void {
    for (const m of ms) {
      if (m.type !== MessageType.Heartbeat) continue;
      const at = this.heartbeats.get(m.to);
      if (at === undefined || now - at > staleMs) this.heartbeats.set(m.to, now);
    }
  }

  received(m: Message, now: number): void {
    if (m.type !== MessageType.HeartbeatResp) return;
    const at = this.heartbeats.get(m.from);
    if (at === undefined) return;
    this.heartbeats.delete(m.from);
    this.peerRoundTrip.observe({ to: m.from.toString(16) }, (now - at) / 1000);
  }
}
