/**
 * Leases on logical time: the seeded Raft simulator (test/raft/sim.ts) runs a cluster whose every
 * node keeps the real Lessor (ts/storage/lessor.ts) on a logical clock and scheduler, as a member
 * does: it follows applied lease writes, and decides expiry while it leads. The lease table each
 * node applies to is a model of native/lease.cc's (grant, revoke, checkpoint, renew, expire).
 *
 * Leaders are crashed, isolated and replaced by transfer every few seconds while clients hold
 * leases: some renew throughout, some stop at a random time, and one 1-hour lease is never renewed.
 * Checked, for every seed:
 * - nothing is revoked earlier than its TTL after the last keepalive its holder sent that succeeded;
 * - a lease whose holder keeps renewing is never revoked;
 * - an abandoned lease is revoked by max(due + time without a leader, the last leader's start + one
 *   election timeout) plus an expiry interval (what the lessor promises), and so within TTL + one
 *   election timeout after it is due plus any time without a leader (what the issue asks);
 * - the 1-hour lease keeps counting down across every leader change.
 *
 * AXIS_LEASE_SIM_SEEDS=n runs more seeds; AXIS_LEASE_SIM_SEED=s replays one, and with
 * AXIS_LEASE_SIM_TRACE=1 prints what happened (leaderships, faults, requests, applies).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AxisError, ErrorCode } from '../ts/errors/index.js';
import { Role, type Entry, type NodeId } from '../ts/raft/types.js';
import { Decoder, Encoder } from '../ts/storage/codec.js';
import { Lessor, type Scheduler, type StoredLease } from '../ts/storage/lessor.js';
import { type PreparedWrite, leaseEffect, prepareLeaseGrant, prepareLeaseRenew } from '../ts/storage/write-request.js';
import { Simulation, type StateMachine } from './raft/sim.js';

const TICK_MS = 100;
const ELECTION_TICKS = 10;
const ELECTION_MS = TICK_MS * ELECTION_TICKS;
const EXPIRY_INTERVAL_MS = 500;
const CHECKPOINT_INTERVAL_MS = 2_000;
/** A proposal not applied by then is given up (a member's request deadline). */
const PROPOSAL_TIMEOUT_MS = 7_000;
/** A client's attempt not applied by then is sent again (to another node). */
const ATTEMPT_MS = 1_000;
/** Logical time with faults, then healed. */
const RUN_MS = 60_000;
const SETTLE_MS = 15_000;
const HOUR_LEASE = 1;
/** The longest a fault (a crash, an isolation) lasts. */
const MAX_FAULT_MS = 3_000;
const TRACE = process.env.AXIS_LEASE_SIM_TRACE === '1';

/** Entry data: 'L' | u32 tag | a lease write request (u8 kind | body, as native/apply.h). */
const MARK = 0x4c;

interface Row { ttl: number; remainingMs: number; renewals: number }

/** native/lease.cc's lease table, on one node. */
function execute(table: Map<number, Row>, body: Buffer): Buffer {
  const e = new Encoder(64);
  const fail = (code: string, message: string): Buffer => {
    e.u8(1);
    e.bytes(Buffer.from(code));
    e.bytes(Buffer.from(message));
    return Buffer.from(e.take());
  };
  const d = new Decoder(body.subarray(1));
  const id = body[0] === 8 ? 0 : d.u64();
  const row = table.get(id);
  switch (body[0]) {
    case 6: {
      if (row) return fail(ErrorCode.LEASE_EXISTS, 'exists');
      table.set(id, { ttl: d.u64(), remainingMs: 0, renewals: 0 });
      e.u8(0);
      e.u64(1);
      break;
    }
    case 7:
    case 10: {
      if (!row) return fail(ErrorCode.LEASE_NOT_FOUND, 'not found');
      if (body[0] === 10 && d.u64() !== row.renewals) return fail(ErrorCode.LEASE_RENEWED, 'renewed');
      table.delete(id);
      e.u8(0);
      e.u64(1);
      e.u64(0);
      break;
    }
    case 8: {
      const n = d.u32();
      for (let i = 0; i < n; i++) {
        const r = table.get(d.u64());
        const remaining = d.u64();
        if (r) r.remainingMs = remaining;
      }
      e.u8(0);
      e.u64(1);
      break;
    }
    case 9: {
      if (!row) return fail(ErrorCode.LEASE_NOT_FOUND, 'not found');
      row.remainingMs = 0;
      row.renewals++;
      e.u8(0);
      e.u64(1);
      e.u64(row.ttl);
      e.u64(row.renewals);
      break;
    }
    default:
      throw new Error(`unexpected lease request kind ${body[0]}`);
  }
  return Buffer.from(e.take());
}

/** A node's timers on the logical clock. */
class NodeTimers implements Scheduler {
  timers: { every: number; next: number; fn: () => void }[] = [];
  constructor(private readonly world: World) {}
  every(ms: number, fn: () => void): () => void {
    const t = { every: ms, next: this.world.now + ms, fn };
    this.timers.push(t);
    return () => {
      this.timers = this.timers.filter((x) => x !== t);
    };
  }
  fire(now: number): void {
    for (const t of [...this.timers]) {
      if (t.next > now || !this.timers.includes(t)) continue;
      t.next += t.every;
      t.fn();
    }
  }
}

interface Proposal {
  node: NodeId;
  at: number;
  resolve(result: Buffer): void;
  reject(err: Error): void;
}

type HolderKind = 'renewing' | 'abandoning' | 'hour';

interface Holder {
  id: number;
  ttl: number;
  kind: HolderKind;
  /** When an abandoning holder stops renewing. */
  stopAt: number;
  granted: boolean;
  nextRenewAt: number;
  attempt: { tag: number; sentAt: number } | undefined;
  /** Send time of the last grant or keepalive that succeeded: the holder may rely on TTL from it. */
  lastOkSend: number;
  /** When the last successful grant or keepalive was first applied: the lease is due TTL after. */
  lastOkApply: number;
  revokedAt: number | undefined;
  /** The node it sends to: kept while it answers, the next one after a failed attempt (as the client rotates endpoints). */
  node: NodeId;
}

class World implements StateMachine {
  now = 0;
  readonly sim: Simulation;
  readonly rng: () => number;
  private readonly tables = new Map<NodeId, Map<number, Row>>();
  /** Each node's dedup table (durable with its lease table): a request proposed again is applied once. */
  private readonly results = new Map<NodeId, Map<number, Buffer>>();
  private readonly lessors = new Map<NodeId, { lessor: Lessor; timers: NodeTimers; createdAt: number; heardHour: boolean }>();
  /**
   * Leaderships taken by a restarted node before it applied anything about the hour lease: its
   * lessor counts from the store's checkpoint, late by the checkpoint's age and the downtime.
   */
  restartedLeaders = 0;
  private readonly proposals = new Map<number, Proposal>();
  private readonly clientTags = new Map<number, Holder>();
  private readonly appliedTags = new Set<number>();
  private tags = 0;
  readonly holders: Holder[] = [];
  /** Start times of each leadership (a node leading a new term). */
  readonly leaderStarts: number[] = [];
  private lastLeaderTerm = 0;
  /** Times with no leader that a majority follows and that takes proposals, as [start, end) spans. */
  readonly leaderless: [number, number][] = [];
  private isolated: NodeId | undefined;

  constructor(readonly seed: number) {
    this.sim = new Simulation({ seed, nodes: 3, drop: 0.02, duplicate: 0.02, electionTick: ELECTION_TICKS, machine: this });
    this.rng = this.sim.rng;
    for (const n of this.sim.nodes) {
      this.tables.set(n.id, new Map());
      this.results.set(n.id, new Map());
    }
  }

  // ---- StateMachine: the lease table every node applies to ----

  apply(node: NodeId, e: Entry): void {
    if (e.data.length < 6 || e.data[0] !== MARK) return;
    const data = Buffer.from(e.data);
    const tag = data.readUInt32LE(1);
    const body = data.subarray(5);
    const done = this.results.get(node)!;
    const first = !done.has(tag);
    const result = done.get(tag) ?? execute(this.tables.get(node)!, body);
    done.set(tag, result);
    const effect = first ? leaseEffect(body, result) : undefined;
    if (TRACE) console.log(`${this.now} node ${node} applies tag ${tag} kind ${body[0]} term ${e.term}/${this.sim.node(node).raft!.term} lessor ${this.lessors.has(node)} hour ${this.lessors.get(node)?.lessor.remainingMs(HOUR_LEASE)} effect ${JSON.stringify(effect)}`);
    const l = this.lessors.get(node);
    if (effect && l) {
      const fromOldTerm = e.term < this.sim.node(node).raft!.term;
      l.lessor.applied(effect, { fromOldTerm });
      const taken = 'checkpointed' in effect ? !fromOldTerm && !l.lessor.leading && effect.checkpointed.some((c) => c.id === HOUR_LEASE) : 'started' in effect && effect.started.id === HOUR_LEASE;
      if (taken) l.heardHour = true;
    }
    if (this.held.get(tag)?.node === node) this.held.delete(tag);
    const p = this.proposals.get(tag);
    if (p && p.node === node) {
      this.proposals.delete(tag);
      p.resolve(result);
    }
    if (!this.appliedTags.has(tag)) {
      this.appliedTags.add(tag);
      this.firstApplied(tag, body, result);
    }
  }

  save(node: NodeId): unknown {
    return { rows: [...this.tables.get(node)!], results: [...this.results.get(node)!].map(([t, r]) => [t, r.toString('base64')]) };
  }

  restore(node: NodeId, state: unknown): void {
    const s = state as { rows: [number, Row][]; results: [number, string][] };
    this.tables.set(node, new Map(s.rows.map(([id, r]) => [id, { ...r }])));
    this.results.set(node, new Map(s.results.map(([t, r]) => [t, Buffer.from(r, 'base64')])));
    // A member that installs a snapshot reloads its lessor from the new state.
    this.lessors.get(node)?.lessor.reload();
  }

  // ---- proposals ----

  /**
   * Proposes at `node` as a member does: the node keeps the request until it applies it, and
   * proposes it again when it learns of a new leader or an election timeout passes (a forward to a
   * leader that died is lost). 0 if the node refused it at once (it knows no leader).
   */
  private propose(node: NodeId, body: Buffer, hold = true): number {
    const tag = ++this.tags;
    const head = Buffer.alloc(5);
    head[0] = MARK;
    head.writeUInt32LE(tag, 1);
    const data = Buffer.concat([head, body]);
    if (!this.sim.propose(node, data)) return 0;
    if (hold) this.held.set(tag, { node, data, proposedAt: this.now, since: this.now, lead: this.sim.node(node).raft?.lead ?? 0 });
    return tag;
  }

  /** Requests a node holds until it applies them. */
  private readonly held = new Map<number, { node: NodeId; data: Buffer; proposedAt: number; since: number; lead: NodeId }>();

  private reproposeHeld(): void {
    for (const [tag, h] of this.held) {
      const r = this.sim.node(h.node).raft;
      if (!r || this.now - h.since >= PROPOSAL_TIMEOUT_MS) {
        this.held.delete(tag);
        continue;
      }
      const newLeader = r.lead !== 0 && r.lead !== h.lead;
      h.lead = r.lead;
      if (newLeader || this.now - h.proposedAt >= ELECTION_MS) {
        if (TRACE) console.log(`${this.now} node ${h.node} proposes tag ${tag} again (lead ${r.lead}) inflight ${this.sim.inflightCount()}`);
        h.proposedAt = this.now;
        this.sim.propose(h.node, h.data);
      }
    }
  }

  /**
   * What a node's lessor submits: proposed by that node as leader of its term, never proposed
   * again (as the member does), answered when that node applies it.
   */
  private submitAt(node: NodeId) {
    return <T>(w: PreparedWrite<T>): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        const e = new Encoder(64);
        w.encode(e);
        const bytes = Buffer.from(e.take());
        const tag = this.sim.node(node).raft?.role === Role.Leader ? this.propose(node, bytes, false) : 0;
        if (TRACE) console.log(`${this.now} node ${node} lessor proposes kind ${bytes[0]} tag ${tag} transferee ${this.sim.node(node).raft?.leadTransferee} has ${this.hasLeader()}`);
        if (tag === 0) {
          reject(new AxisError(ErrorCode.NO_LEADER, 'refused'));
          return;
        }
        this.proposals.set(tag, {
          node,
          at: this.now,
          resolve: (result) => {
            try {
              const d = new Decoder(result);
              d.status();
              resolve(w.decode(d));
            } catch (err) {
              reject(err as Error);
            }
          },
          reject,
        });
      });
  }

  // ---- lessors, as a member runs them ----

  private syncLessors(): void {
    for (const n of this.sim.nodes) {
      const held = this.lessors.get(n.id);
      if (!n.raft) {
        if (held) {
          held.lessor.close();
          this.lessors.delete(n.id);
          for (const [tag, p] of this.proposals) {
            if (p.node === n.id) {
              this.proposals.delete(tag);
              p.reject(new AxisError(ErrorCode.UNAVAILABLE, 'crashed'));
            }
          }
        }
        continue;
      }
      let l = held;
      if (!l) {
        const timers = new NodeTimers(this);
        const load = (): StoredLease[] => [...this.tables.get(n.id)!].map(([id, r]) => ({ id, ...r }));
        const lessor = new Lessor(load, this.submitAt(n.id), {
          expiryIntervalMs: EXPIRY_INTERVAL_MS, checkpointIntervalMs: CHECKPOINT_INTERVAL_MS, revokeRate: 1000, clock: () => this.now, scheduler: timers,
        });
        l = { lessor, timers, createdAt: this.now, heardHour: false };
        this.lessors.set(n.id, l);
      }
      const leading = n.raft.role === Role.Leader;
      if (TRACE && leading !== l.lessor.leading) console.log(`${this.now} node ${n.id} ${leading ? 'leads' : 'follows'} term ${n.raft.term}`);
      if (leading && !l.lessor.leading) {
        l.lessor.lead(ELECTION_MS);
        if (l.createdAt > TICK_MS && !l.heardHour) this.restartedLeaders++; // not one of the first lessors
        if (TRACE) console.log(`${this.now} node ${n.id} leads with hour lease at ${l.lessor.remainingMs(HOUR_LEASE)} (created ${l.createdAt}, heard ${l.heardHour})`);
        if (n.raft.term > this.lastLeaderTerm) {
          this.lastLeaderTerm = n.raft.term;
          this.leaderStarts.push(this.now);
        }
      } else if (!leading && l.lessor.leading) {
        l.lessor.follow();
        for (const [tag, p] of this.proposals) {
          if (p.node !== n.id) continue;
          this.proposals.delete(tag);
          p.reject(new AxisError(ErrorCode.NOT_LEADER, 'no longer leads'));
        }
      }
    }
  }

  /** A leader a majority can hear that takes proposals (an isolated one, or one handing over, does not count). */
  private hasLeader(): boolean {
    const l = this.sim.leader();
    return l !== undefined && l.id !== this.isolated && l.raft!.leadTransferee === 0;
  }

  // ---- clients ----

  addHolder(id: number, ttl: number, kind: HolderKind, stopAt = Infinity): void {
    this.holders.push({ id, ttl, kind, stopAt, granted: false, nextRenewAt: 0, attempt: undefined, lastOkSend: -Infinity, lastOkApply: -Infinity, revokedAt: undefined, node: 1 + (this.holders.length % this.sim.nodes.length) });
  }

  private clients(): void {
    const next = (h: Holder) => {
      h.node = (h.node % this.sim.nodes.length) + 1;
    };
    for (const h of this.holders) {
      if (h.revokedAt !== undefined) continue;
      if (h.attempt && this.now - h.attempt.sentAt < ATTEMPT_MS) continue;
      if (h.attempt) next(h); // no answer in time
      h.attempt = undefined;
      const wants = !h.granted || (h.kind !== 'hour' && this.now < h.stopAt && this.now >= h.nextRenewAt);
      if (!wants) continue;
      const w = h.granted ? prepareLeaseRenew(h.id) : prepareLeaseGrant(h.id, h.ttl);
      const e = new Encoder(32);
      w.encode(e);
      // A crashed node does not answer: the attempt times out as any other.
      const tag = this.sim.node(h.node).raft ? this.propose(h.node, Buffer.from(e.take())) : -1;
      if (tag === 0) {
        next(h); // refused at once (no leader known there): the next node, next round
        continue;
      }
      h.attempt = { tag, sentAt: this.now };
      if (TRACE) console.log(`${this.now} client ${h.id} sends tag ${tag} to node ${h.node} (lead ${this.sim.node(h.node).raft?.lead}, role ${this.sim.node(h.node).raft?.role})`);
      if (tag < 0) continue;
      this.sent.set(tag, this.now);
      this.clientTags.set(tag, h);
    }
  }

  /** The first apply of a client's request anywhere: its outcome. */
  private firstApplied(tag: number, body: Buffer, result: Buffer): void {
    const kind = body[0];
    if (TRACE) console.log(`${this.now} apply tag ${tag} kind ${kind} id ${body[0] === 8 ? '-' : new Decoder(body.subarray(1)).u64()} result ${result[0]} ${this.codeOf(result)} leader ${this.sim.leader()?.id}`);
    if (kind === 7 || kind === 10) {
      if (result[0] !== 0) return;
      const id = new Decoder(body.subarray(1)).u64();
      const h = this.holders.find((x) => x.id === id);
      if (h && h.revokedAt === undefined) h.revokedAt = this.now;
      return;
    }
    const h = this.clientTags.get(tag);
    if (!h) return;
    this.clientTags.delete(tag);
    const sentAt = this.sent.get(tag);
    // A retried grant whose first copy was applied finds its lease there.
    const exists = kind === 6 && this.codeOf(result) === ErrorCode.LEASE_EXISTS;
    if (result[0] === 0 || exists) {
      if (kind === 6) h.granted = true;
      if (sentAt !== undefined && sentAt > h.lastOkSend) h.lastOkSend = sentAt;
      if (result[0] === 0) h.lastOkApply = this.now;
      h.nextRenewAt = this.now + (h.ttl * 1000) / 3;
    }
    if (h.attempt?.tag === tag) h.attempt = undefined;
  }

  /** When each client request was sent. */
  private readonly sent = new Map<number, number>();

  private codeOf(result: Buffer): string {
    try {
      new Decoder(result).status();
      return '';
    } catch (err) {
      return (err as AxisError).code;
    }
  }

  // ---- faults ----

  private fault: { until: number; end: () => void } | undefined;
  private nextFaultAt = 3_000;
  faults = 0;

  private faultStep(): void {
    if (this.fault && this.now >= this.fault.until) {
      this.fault.end();
      this.fault = undefined;
      this.nextFaultAt = this.now + 2_000 + Math.floor(this.rng() * 2_000);
    }
    if (this.fault || this.now < this.nextFaultAt || this.now >= RUN_MS) return;
    const leader = this.sim.leader();
    if (!leader) return;
    const x = this.rng();
    const lasting = 1_500 + Math.floor(this.rng() * (MAX_FAULT_MS - 1_500));
    this.faults++;
    if (TRACE) console.log(`${this.now} fault ${x} leader ${leader.id}`);
    if (x < 0.35) {
      this.sim.crash(leader.id);
      this.fault = { until: this.now + lasting, end: () => this.sim.restart(leader.id) };
    } else if (x < 0.6) {
      const others = this.sim.nodes.filter((n) => n.id !== leader.id).map((n) => n.id);
      this.sim.partition([[leader.id], others]);
      this.isolated = leader.id;
      this.fault = {
        until: this.now + lasting,
        end: () => {
          this.sim.heal();
          this.isolated = undefined;
        },
      };
    } else if (x < 0.85) {
      this.sim.transfer();
      this.fault = { until: this.now, end: () => {} };
    } else {
      const follower = this.sim.nodes.find((n) => n.id !== leader.id && n.raft)!;
      this.sim.crash(follower.id);
      this.fault = { until: this.now + lasting, end: () => this.sim.restart(follower.id) };
    }
  }

  // ---- the loop ----

  private leaderlessSince: number | undefined;

  async round(): Promise<void> {
    this.now += TICK_MS;
    this.faultStep();
    for (const l of this.lessors.values()) l.timers.fire(this.now);
    this.clients();
    this.sim.tickAll();
    this.sim.deliverAll();
    this.sim.settle();
    this.syncLessors();
    this.reproposeHeld();
    this.sim.deliverAll();
    this.sim.settle();
    for (const [tag, p] of this.proposals) {
      if (this.now - p.at >= PROPOSAL_TIMEOUT_MS) {
        this.proposals.delete(tag);
        p.reject(new AxisError(ErrorCode.TIMEOUT, 'not applied in time'));
      }
    }
    const has = this.hasLeader();
    if (!has && this.leaderlessSince === undefined) this.leaderlessSince = this.now;
    if (has && this.leaderlessSince !== undefined) {
      this.leaderless.push([this.leaderlessSince, this.now]);
      this.leaderlessSince = undefined;
    }
    // Let the lessors' promise callbacks run, as the event loop would.
    await new Promise((r) => setImmediate(r));
  }

  leaderlessWithin(a: number, b: number): number {
    let total = 0;
    const spans = this.leaderlessSince === undefined ? this.leaderless : [...this.leaderless, [this.leaderlessSince, this.now] as [number, number]];
    for (const [s, e] of spans) total += Math.max(0, Math.min(e, b) - Math.max(s, a));
    return total;
  }

  /** The remaining TTL the current leader's lessor holds for `id`. */
  leaderRemaining(id: number): number | undefined {
    const l = this.sim.leader();
    return l ? this.lessors.get(l.id)?.lessor.remainingMs(id) : undefined;
  }

  tableOf(node: NodeId): Map<number, Row> {
    return this.tables.get(node)!;
  }

  finish(): void {
    for (const l of this.lessors.values()) l.lessor.close();
  }
}

const one = process.env.AXIS_LEASE_SIM_SEED;
const count = Number(process.env.AXIS_LEASE_SIM_SEEDS ?? 50);
const seeds = one !== undefined ? [Number(one)] : Array.from({ length: count }, (_, i) => 1 + i);

test(`leases on logical time across repeated leader changes (${seeds.length} seeds)`, { timeout: 60_000 + seeds.length * 200 }, async (t) => {
  let worstLate = 0;
  let revoked = 0;
  let faults = 0;
  for (const seed of seeds) {
    const w = new World(seed);
    w.addHolder(HOUR_LEASE, 3600, 'hour');
    // Renewing holders keep a margin for message loss: a forwarded keepalive lost on the way is sent
    // again an election timeout later. Abandoned leases go down to near the minimum TTL (1.5 s here).
    for (let i = 0; i < 6; i++) w.addHolder(10 + i, [8, 12][i % 2]!, 'renewing');
    for (let i = 0; i < 12; i++) w.addHolder(100 + i, [2, 3, 5, 8][i % 4]!, 'abandoning', 2_000 + Math.floor(w.rng() * (RUN_MS - 12_000)));
    while (w.now < RUN_MS + SETTLE_MS) await w.round();
    const where = `seed ${seed}`;
    const hour = w.holders.find((h) => h.id === HOUR_LEASE)!;
    assert.ok(hour.granted, `${where}: the hour lease was granted`);
    for (const h of w.holders) {
      if (h.revokedAt !== undefined) {
        // Never before its TTL after the holder's last successful keepalive (or grant) was sent.
        assert.ok(h.revokedAt >= h.lastOkSend + h.ttl * 1000, `${where}: lease ${h.id} revoked at ${h.revokedAt}, before ${h.lastOkSend} + ${h.ttl} s`);
      }
      if (h.kind !== 'abandoning') {
        assert.equal(h.revokedAt, undefined, `${where}: lease ${h.id} (${h.kind}) was revoked at ${h.revokedAt}`);
        continue;
      }
      const due = h.lastOkApply + h.ttl * 1000;
      assert.ok(h.revokedAt !== undefined, `${where}: abandoned lease ${h.id} (due at ${due}) was never revoked`);
      revoked++;
      // What the lessor promises: a new leader keeps the deadline it counted, with an election timeout's grace.
      const lastStart = Math.max(...w.leaderStarts.filter((s) => s <= h.revokedAt!));
      // Without a leader (or while one hands over) nothing can be revoked, and a checkpoint proposed
      // before a leader change can be applied after it, late by that time; nothing else moves a deadline.
      const leaderless = w.leaderlessWithin(h.lastOkApply, h.revokedAt);
      // Then the next expiry tick at which a leader takes proposals revokes it.
      const proposable = Math.max(0, ...w.leaderless.filter(([, end]) => end <= h.revokedAt!).map(([, end]) => end));
      const promised = Math.max(due + leaderless, lastStart + ELECTION_MS, proposable) + EXPIRY_INTERVAL_MS + 2 * TICK_MS;
      assert.ok(h.revokedAt <= promised, `${where}: lease ${h.id} due at ${due} revoked at ${h.revokedAt}, after ${promised} (leader since ${lastStart})`);
      // What the issue asks: within TTL + one election timeout after it is due, plus any time without a leader.
      const bound = due + h.ttl * 1000 + ELECTION_MS + leaderless;
      assert.ok(h.revokedAt <= bound, `${where}: lease ${h.id} due at ${due} revoked at ${h.revokedAt}, after ${bound}`);
      worstLate = Math.max(worstLate, h.revokedAt - due);
    }
    // The hour lease kept counting down on every leader: never reset to its full TTL.
    const elapsed = w.now - hour.lastOkSend;
    const left = w.leaderRemaining(HOUR_LEASE);
    assert.ok(left !== undefined, `${where}: the leader knows the hour lease`);
    assert.ok(left >= 3_600_000 - elapsed, `${where}: the hour lease has ${left} ms left, less than the ${3_600_000 - elapsed} ms its holder was promised`);
    // Only a restarted node that leads before it applied a new checkpoint adds to it: the age of the
    // checkpoint it loaded (at most an interval, or an election when leaders change) and its downtime.
    const slack = ELECTION_MS + w.restartedLeaders * (CHECKPOINT_INTERVAL_MS + MAX_FAULT_MS + 2 * ELECTION_MS);
    assert.ok(slack < elapsed / 2, `${where}: too many restarted leaders (${w.restartedLeaders}) for this check to mean anything`);
    assert.ok(left <= 3_600_000 - elapsed + slack, `${where}: the hour lease has ${left} ms left after ${elapsed} ms: it was reset`);
    // Every node holds the same leases.
    const tables = w.sim.nodes.map((n) => JSON.stringify([...w.tableOf(n.id).keys()].sort()));
    assert.ok(tables.every((x) => x === tables[0]), `${where}: the nodes' lease tables differ: ${tables.join(' / ')}`);
    assert.ok(w.leaderStarts.length >= 3, `${where}: only ${w.leaderStarts.length} leaderships`);
    faults += w.faults;
    w.finish();
  }
  t.diagnostic(`${seeds.length} seeds, ${faults} faults, ${revoked} abandoned leases revoked, latest ${worstLate} ms after due`);
});
