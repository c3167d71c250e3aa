/**
 * A deterministic simulator for the Raft core: N nodes on a seeded network that drops, delays
 * (holds), duplicates, reorders and partitions messages; crashes that lose everything not yet
 * durable; restarts. Raft's safety properties are checked after every step. A failing run is
 * reproduced from its seed alone.
 */
import { Raft } from '../../ts/raft/raft.js';
import { isAxisError } from '../../ts/errors/index.js';
import { decodeConfChange } from '../../ts/raft/confchange.js';
import { planCompaction } from '../../ts/raft/compaction.js';
import { MemoryStorage } from '../../ts/raft/storage.js';
import { type ConfChangeSingle, type Entry, EntryType, type Message, MessageType, type NodeId, type Ready, Role, emptyConfState } from '../../ts/raft/types.js';
import { mulberry32 } from '../support/prng.js';
import type { KvInput, KvOutput, Operation } from '../support/linearizability.js';

export interface SimOptions {
  seed: number;
  nodes: number;
  /** Probability a sent message is dropped. */
  drop?: number;
  /** Probability a delivered message is delivered twice. */
  duplicate?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  electionTick?: number;
  /** Probability, at each chance, that a taken Ready stays unpersisted a while longer (messages race the disk). */
  lazyPersist?: number;
  /** Propose random membership changes now and then. */
  membershipChanges?: boolean;
  /** Another state machine beside the key-value one: told of every applied entry, and carried in snapshots. */
  machine?: StateMachine;
}

/** A state machine a test adds (its state is durable with the node's applied entries). */
export interface StateMachine {
  apply(node: NodeId, e: Entry): void;
  save(node: NodeId): unknown;
  restore(node: NodeId, state: unknown): void;
}

interface Node {
  id: NodeId;
  raft: Raft | undefined; // undefined while crashed
  storage: MemoryStorage; // what is durable
  applied: Entry[]; // the state machine: entries applied, in order (durable with it)
  maxCommit: number;
  /** A Ready taken (its messages sent) but not yet persisted: a crash loses it. */
  pending: Ready | undefined;
  /** The state machine built from `applied`: a key-value map (durable with it). */
  kv: Map<string, string>;
}

/** A client with at most one request outstanding, sent to one node. */
interface Client {
  id: number;
  seq: number;
  busy: { seq: number; input: KvInput; node: NodeId; call: number; sentAt: number } | undefined;
}

/** A client request as it travels in a log entry. */
interface Command {
  c: number;
  s: number;
  op: KvInput;
}

const KEYS = ['a', 'b', 'c'];
/** Steps a client waits for its answer before it gives up (the outcome is then unknown). */
const CLIENT_TIMEOUT = 400;

export class SafetyViolation extends Error {}

export class Simulation {
  readonly rng: () => number;
  readonly nodes: Node[] = [];
  /** Messages in flight, in no particular order: delivery picks at random (reordering). */
  private inflight: Message[] = [];
  /** Nodes that cannot reach each other: key "a>b" blocks a→b (one-way) */
  private blocked = new Set<string>();
  /** Who led each term. */
  private readonly leaders = new Map<number, NodeId>();
  /** Every entry applied anywhere, by index: all nodes must agree. */
  private readonly appliedLog: Entry[] = [];
  private proposals = 0;
  private readonly clients: Client[] = [];
  /** Every client operation with its outcome, for the linearizability check. */
  readonly history: Operation[] = [];
  /** Logical time of client events: every call and answer gets a later one. */
  private clock = 0;
  private get membershipChanges(): boolean {
    return this.opts.membershipChanges;
  }
  stepsRun = 0;
  readonly opts: Required<Omit<SimOptions, 'machine'>>;
  private readonly machine: StateMachine | undefined;

  constructor(opts: SimOptions) {
    const { machine, ...rest } = opts;
    this.machine = machine;
    this.opts = { drop: 0, duplicate: 0, preVote: true, checkQuorum: true, electionTick: 10, lazyPersist: 0.3, membershipChanges: false, ...rest };
    this.rng = mulberry32(opts.seed);
    for (let i = 1; i <= opts.nodes; i++) {
      const storage = new MemoryStorage();
      const voters = Array.from({ length: opts.nodes }, (_, j) => j + 1);
      storage.applySnapshot({ meta: { index: 1, term: 1, confState: { ...emptyConfState(), voters } }, data: new Uint8Array() });
      storage.setHardState({ term: 1, vote: 0, commit: 1 });
      const node: Node = { id: i, raft: undefined, storage, applied: [], maxCommit: 1, pending: undefined, kv: new Map() };
      this.nodes.push(node);
      this.start(node);
    }
    for (let c = 1; c <= 4; c++) this.clients.push({ id: c, seq: 0, busy: undefined });
  }

  // ---- clients --------------------------------------------------------------------------

  /** An idle client sends a random request to a random node. */
  clientRequest(): void {
    const idle = this.clients.filter((c) => !c.busy);
    if (idle.length === 0) return;
    const client = idle[Math.floor(this.rng() * idle.length)]!;
    const key = KEYS[Math.floor(this.rng() * KEYS.length)]!;
    const value = `v${client.id}.${client.seq + 1}`;
    const x = this.rng();
    const input: KvInput =
      x < 0.35 ? { op: 'put', key, value }
      : x < 0.7 ? { op: 'get', key }
      : x < 0.85 ? { op: 'cas', key, expect: this.rng() < 0.3 ? null : `v${1 + Math.floor(this.rng() * 4)}.${1 + Math.floor(this.rng() * (client.seq + 1))}`, value }
      : { op: 'delete', key };
    const node = this.nodes[Math.floor(this.rng() * this.nodes.length)]!;
    client.seq++;
    const cmd: Command = { c: client.id, s: client.seq, op: input };
    // A refused proposal never entered any log: the client knows it failed and records nothing.
    if (!this.propose(node.id, Buffer.from(JSON.stringify(cmd)))) return;
    client.busy = { seq: client.seq, input, node: node.id, call: ++this.clock, sentAt: this.stepsRun };
  }

  private answer(client: Client, output: KvOutput, at: number): void {
    const b = client.busy!;
    this.history.push({ clientId: client.id, call: b.call, return: at, input: b.input, output });
    client.busy = undefined;
  }

  /** Clients whose node crashed, or who waited too long, give up: the outcome is unknown. */
  private expireClients(crashed?: NodeId): void {
    for (const c of this.clients) {
      if (c.busy && (c.busy.node === crashed || this.stepsRun - c.busy.sentAt > CLIENT_TIMEOUT)) {
        this.answer(c, { unknown: true }, Infinity);
      }
    }
  }

  /** Ends the run: requests still outstanding have unknown outcomes. */
  finishClients(): void {
    for (const c of this.clients) if (c.busy) this.answer(c, { unknown: true }, Infinity);
  }

  /** Applies a command to a node's key-value state; the node that took the request answers it. */
  private applyCommand(n: Node, e: Entry): void {
    if (e.data.length === 0 || e.data[0] !== 0x7b /* { */) return;
    const cmd = JSON.parse(Buffer.from(e.data).toString()) as Command;
    const { op } = cmd;
    let output: KvOutput;
    const cur = n.kv.get(op.key) ?? null;
    if (op.op === 'put') {
      n.kv.set(op.key, op.value);
      output = { ok: true };
    } else if (op.op === 'get') {
      output = { value: cur };
    } else if (op.op === 'delete') {
      output = { deleted: n.kv.delete(op.key) };
    } else {
      const ok = cur === op.expect;
      if (ok) n.kv.set(op.key, op.value);
      output = { succeeded: ok };
    }
    const client = this.clients[cmd.c - 1]!;
    if (client.busy && client.busy.seq === cmd.s && client.busy.node === n.id) this.answer(client, output, ++this.clock);
  }

  private start(node: Node): void {
    const lastApplied = node.applied.length ? node.applied[node.applied.length - 1]!.index : 1;
    node.raft = new Raft({
      id: node.id,
      storage: node.storage,
      electionTick: this.opts.electionTick,
      heartbeatTick: 1,
      random: this.rng,
      applied: lastApplied,
      preVote: this.opts.preVote,
      checkQuorum: this.opts.checkQuorum,
      maxSizePerMsg: 4096,
      maxInflightMsgs: 8,
      maxUncommittedEntriesSize: 1 << 16,
      maxSnapshotChunk: 512,
    });
  }

  node(id: NodeId): Node {
    return this.nodes[id - 1]!;
  }

  leader(): Node | undefined {
    let best: Node | undefined;
    for (const n of this.nodes) {
      if (n.raft?.role === Role.Leader && (!best || n.raft.term > best.raft!.term)) best = n;
    }
    return best;
  }

  // ---- actions ----------------------------------------------------------------------------

  tick(id: NodeId): void {
    this.node(id).raft?.tick();
    this.drain();
  }

  tickAll(): void {
    for (const n of this.nodes) n.raft?.tick();
    this.drain();
  }

  /** Proposes at node `id`; false if it refused (no leader, log full...). */
  propose(id: NodeId, data: Uint8Array = Buffer.from(`p${++this.proposals}`)): boolean {
    const r = this.node(id).raft;
    if (!r) return false;
    try {
      r.propose(data);
    } catch (err) {
      if (isAxisError(err)) return false;
      throw err;
    }
    this.drain();
    return true;
  }

  /** Delivers one message picked at random from those in flight. */
  deliverOne(): boolean {
    if (this.inflight.length === 0) return false;
    const i = Math.floor(this.rng() * this.inflight.length);
    const m = this.inflight[i]!;
    this.inflight[i] = this.inflight[this.inflight.length - 1]!;
    this.inflight.pop();
    this.deliver(m);
    if (this.rng() < this.opts.duplicate) this.deliver({ ...m, entries: m.entries.slice() });
    this.drain();
    return true;
  }

  /** Delivers everything in flight (and what that causes), within `limit` messages. */
  deliverAll(limit = 10_000): void {
    for (let n = 0; n < limit && this.deliverOne(); n++) {
      // keep going
    }
  }

  dropOne(): void {
    if (this.inflight.length === 0) return;
    const [m] = this.inflight.splice(Math.floor(this.rng() * this.inflight.length), 1);
    this.lost(m!);
  }

  crash(id: NodeId): void {
    const n = this.node(id);
    n.raft = undefined;
    n.pending = undefined; // never persisted, never acknowledged
    this.expireClients(id);
    // Messages to it are lost with it; its unsent messages were never sent.
    for (const m of this.inflight) if (m.to === id) this.lost(m);
    this.inflight = this.inflight.filter((m) => m.to !== id);
  }

  restart(id: NodeId): void {
    const n = this.node(id);
    if (n.raft) return;
    this.start(n);
    this.checkCommitMonotone(n);
  }

  partition(groups: NodeId[][]): void {
    this.blocked.clear();
    for (const a of groups) for (const b of groups) {
      if (a === b) continue;
      for (const x of a) for (const y of b) this.blocked.add(`${x}>${y}`);
    }
  }

  /** One-way loss: a cannot reach b. */
  blockOneWay(a: NodeId, b: NodeId): void {
    this.blocked.add(`${a}>${b}`);
  }

  heal(): void {
    this.blocked.clear();
  }

  // ---- the driver loop: what an application does with Ready --------------------------------

  private deliver(m: Message): void {
    const to = this.node(m.to);
    if (!to.raft) {
      this.lost(m);
      return;
    }
    // The stream's end tells the sender it arrived.
    if (m.type === MessageType.Snap && (!m.chunk || m.chunk.offset + m.snapshot!.data.length >= m.chunk.total)) {
      this.node(m.from).raft?.reportSnapshot(m.to, true);
    }
    try {
      to.raft.step(m);
    } catch (err) {
      if (isAxisError(err)) return; // a forwarded proposal refused: the client retries
      throw err;
    }
  }

  private send(m: Message): void {
    if (this.blocked.has(`${m.from}>${m.to}`) || this.rng() < this.opts.drop) {
      this.lost(m);
      return;
    }
    this.inflight.push(m);
  }

  /** A snapshot's sender learns whether it arrived (the transport streams it and knows). */
  private lost(m: Message): void {
    if (m.type === MessageType.Snap) this.node(m.from).raft?.reportSnapshot(m.to, false);
  }

  /**
   * Processes every node's Ready until none has work, checking safety after each. A Ready's
   * messages go out at once; its persist happens now or, with probability `lazy`, at a later step
   * (persistOne), so messages race the disk and a crash in between loses the unpersisted part.
   */
  drain(lazy = this.opts.lazyPersist): void {
    for (let round = 0; round < 100; round++) {
      let any = false;
      for (const n of this.nodes) {
        const r = n.raft;
        if (!r) continue;
        if (n.pending) {
          if (this.rng() < lazy) continue;
          this.persist(n);
          any = true;
          continue;
        }
        if (!r.hasReady()) continue;
        any = true;
        const rd = r.ready();
        for (const m of rd.messages) this.send(m);
        n.pending = rd;
        this.checkLeader(n);
        if (this.rng() >= lazy) this.persist(n);
      }
      if (!any) return;
    }
  }

  /** Completes a node's pending Ready: persist, send what waited, apply, advance. */
  private persist(n: Node): void {
    const rd = n.pending!;
    const r = n.raft!;
    n.pending = undefined;
    if (rd.snapshot) {
      n.storage.applySnapshot(rd.snapshot);
      this.installState(n, rd.snapshot.data);
    }
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    for (const m of rd.messagesAfterPersist) this.send(m);
    for (const e of rd.committedEntries) {
      this.apply(n, e);
      if (e.type === EntryType.ConfChange) {
        n.storage.setConfState(r.applyConfChange(decodeConfChange(e.data)));
        // A member added here may need a snapshot: it must be one that includes it.
        n.storage.createSnapshot(e.index, n.storage.initialState().confState, this.stateData(n));
      }
    }
    r.advance(rd);
    this.checkLeader(n);
    this.checkCommitMonotone(n);
    this.maybeCompact(n);
  }

  /** Every 20 applied entries a node snapshots its state and keeps 5 entries of log. */
  private maybeCompact(n: Node): void {
    const applied = n.raft!.log.applied;
    const plan = planCompaction(applied, n.storage.snapshot().meta.index, n.storage.firstIndex(), { snapshotEvery: 20, keep: 5 });
    if (!plan) return;
    n.storage.createSnapshot(plan.snapshotAt, n.storage.initialState().confState, this.stateData(n));
    n.storage.compact(plan.compactTo);
  }

  private stateData(n: Node): Uint8Array {
    const state = { applied: n.applied.map((e) => ({ ...e, data: Buffer.from(e.data).toString('base64') })), kv: [...n.kv], machine: this.machine?.save(n.id) };
    return Buffer.from(JSON.stringify(state));
  }

  /** A node installs a snapshot as its state; what it says was applied must agree with everyone. */
  private installState(n: Node, data: Uint8Array): void {
    const state = JSON.parse(Buffer.from(data).toString()) as { applied: (Omit<Entry, 'data'> & { data: string })[]; kv: [string, string][]; machine: unknown };
    n.applied = state.applied.map((e) => ({ ...e, data: Buffer.from(e.data, 'base64') }));
    n.kv = new Map(state.kv);
    this.machine?.restore(n.id, state.machine);
    for (const e of n.applied) {
      const seen = this.appliedLog[e.index];
      if (seen === undefined) this.appliedLog[e.index] = e;
      else if (seen.term !== e.term || !Buffer.from(seen.data).equals(Buffer.from(e.data))) {
        this.fail(`node ${n.id} installed a snapshot applying ${e.index}@${e.term}, but ${seen.index}@${seen.term} was applied there`);
      }
    }
  }

  /** Persists one node's pending Ready, if any. */
  persistOne(): void {
    const waiting = this.nodes.filter((n) => n.pending && n.raft);
    if (waiting.length === 0) return;
    this.persist(waiting[Math.floor(this.rng() * waiting.length)]!);
    this.drain();
  }

  /** Persists everything pending and settles. */
  settle(): void {
    for (let i = 0; i < 100 && this.nodes.some((n) => n.pending && n.raft); i++) {
      for (const n of this.nodes) if (n.pending && n.raft) this.persist(n);
      this.drain(0);
    }
  }

  // ---- safety ---------------------------------------------------------------------------

  private fail(what: string): never {
    throw new SafetyViolation(`seed ${this.opts.seed}: ${what}`);
  }

  private apply(n: Node, e: Entry): void {
    const last = n.applied[n.applied.length - 1];
    const expected = (last ? last.index : 1) + 1;
    if (e.index !== expected) this.fail(`node ${n.id} applied index ${e.index}, expected ${expected}`);
    n.applied.push(e);
    this.applyCommand(n, e);
    this.machine?.apply(n.id, e);
    // State machine safety: no two nodes apply different entries at one index.
    const seen = this.appliedLog[e.index];
    if (seen === undefined) this.appliedLog[e.index] = e;
    else if (seen.term !== e.term || !Buffer.from(seen.data).equals(Buffer.from(e.data))) {
      this.fail(`node ${n.id} applied ${e.index}@${e.term} but another node applied ${seen.index}@${seen.term} there`);
    }
  }

  private checkLeader(n: Node): void {
    const r = n.raft!;
    if (r.role !== Role.Leader) return;
    const prev = this.leaders.get(r.term);
    if (prev !== undefined && prev !== n.id) this.fail(`two leaders in term ${r.term}: ${prev} and ${n.id}`);
    if (prev === undefined) {
      this.leaders.set(r.term, n.id);
      // Leader completeness: a new leader holds every entry applied anywhere.
      for (let i = 2; i < this.appliedLog.length; i++) {
        const e = this.appliedLog[i];
        if (!e) continue;
        if (r.log.term(i) !== e.term && i >= r.log.firstIndex()) {
          this.fail(`leader ${n.id} of term ${r.term} lacks applied entry ${i}@${e.term} (has term ${r.log.term(i)})`);
        }
      }
    }
  }

  private checkCommitMonotone(n: Node): void {
    const c = n.storage.hardState.commit;
    if (c < n.maxCommit) this.fail(`node ${n.id}'s durable commit went back from ${n.maxCommit} to ${c}`);
    n.maxCommit = c;
  }

  /** Log matching over durable logs: equal (index, term) means equal prefixes. */
  checkLogMatching(): void {
    const logs = this.nodes.map((n) => {
      const first = n.storage.firstIndex();
      const last = n.storage.lastIndex();
      return { n, first, last, ents: last >= first ? n.storage.entries(first, last + 1, Number.MAX_SAFE_INTEGER) : [] };
    });
    for (let a = 0; a < logs.length; a++) {
      for (let b = a + 1; b < logs.length; b++) {
        const la = logs[a]!;
        const lb = logs[b]!;
        const lo = Math.max(la.first, lb.first);
        const hi = Math.min(la.last, lb.last);
        let matchedAbove = false;
        for (let i = hi; i >= lo; i--) {
          const ea = la.ents[i - la.first]!;
          const eb = lb.ents[i - lb.first]!;
          if (ea.term === eb.term) matchedAbove = true;
          if (matchedAbove && (ea.term !== eb.term || !Buffer.from(ea.data).equals(Buffer.from(eb.data)))) {
            this.fail(`log matching: nodes ${la.n.id} and ${lb.n.id} share a later entry but differ at ${i}`);
          }
        }
      }
    }
  }

  /** Everything any node applied. */
  appliedCount(): number {
    return this.appliedLog.filter((e) => e !== undefined).length;
  }

  inflightCount(): number {
    return this.inflight.length;
  }

  /** The leader (if any) proposes a random membership change among the simulation's nodes. */
  changeMembership(): void {
    const l = this.leader();
    if (!l?.raft) return;
    const ids = this.nodes.map((n) => n.id);
    const pick = (): NodeId => ids[Math.floor(this.rng() * ids.length)]!;
    const types = ['addNode', 'addLearner', 'removeNode'] as const;
    const changes: ConfChangeSingle[] = [];
    const n = this.rng() < 0.7 ? 1 : 2;
    for (let i = 0; i < n; i++) {
      const change = { type: types[Math.floor(this.rng() * types.length)]!, nodeId: pick() };
      // As the server will: the leader is never removed or demoted while it leads (it hands
      // leadership over first). Removing a leader that steps down before the others learn the
      // commit can leave them unable to elect anyone (etcd-io/raft has the same open problem).
      if (change.nodeId === l.id && change.type !== 'addNode') continue;
      changes.push(change);
    }
    if (changes.length === 0) return;
    const joint = l.raft.tracker.config.voters.isJoint();
    try {
      l.raft.proposeConfChange(joint ? { transition: 'auto', changes: [] } : { transition: 'auto', changes });
    } catch (err) {
      if (!(isAxisError(err))) throw err;
      return;
    }
    this.drain();
  }

  /** The leader (if any) hands leadership to a random node. */
  transfer(): void {
    const l = this.leader();
    if (!l?.raft) return;
    l.raft.transferLeader(this.nodes[Math.floor(this.rng() * this.nodes.length)]!.id);
    this.drain();
  }

  /** A random step of a faulty world. */
  randomStep(): void {
    this.stepsRun++;
    this.expireClients();
    const x = this.rng();
    const ids = this.nodes.map((n) => n.id);
    const pick = (): NodeId => ids[Math.floor(this.rng() * ids.length)]!;
    if (x < 0.42) this.deliverOne();
    else if (x < 0.5) this.persistOne();
    else if (x < 0.8) this.tick(pick());
    else if (x < 0.87) this.propose(pick());
    else if (x < 0.93) this.clientRequest();
    else if (x < 0.95) this.dropOne();
    else if (x < 0.958) {
      // Usually a minority goes down; now and then a majority does too.
      const down = this.nodes.filter((n) => !n.raft).length;
      if (down < Math.floor((this.nodes.length - 1) / 2) || this.rng() < 0.2) this.crash(pick());
    } else if (x < 0.975) this.restart(pick());
    else if (x < 0.982) {
      // a random partition into two groups
      const a: NodeId[] = [];
      const b: NodeId[] = [];
      for (const id of ids) (this.rng() < 0.5 ? a : b).push(id);
      this.partition([a, b]);
    } else if (x < 0.986) this.blockOneWay(pick(), pick());
    else if (x < 0.99) this.membershipChanges ? this.changeMembership() : this.heal();
    else if (x < 0.993) this.transfer();
    else this.heal();
  }

  /** Heals everything and runs until a leader commits a new proposal; false if it never does. */
  recover(maxTicks = 500): boolean {
    this.heal();
    for (const n of this.nodes) if (!n.raft) this.restart(n.id);
    const before = this.appliedCount();
    let proposed = false;
    for (let t = 0; t < maxTicks; t++) {
      this.tickAll();
      this.settle();
      this.deliverAll();
      this.settle();
      const l = this.leader();
      if (l && !proposed) proposed = this.propose(l.id);
      this.deliverAll();
      this.settle();
      // Done once every member of the leader's configuration applied the same (removed nodes lag forever).
      const members = l?.raft ? [...l.raft.tracker.progress.keys()].map((id) => this.node(id)) : [];
      if (proposed && l && this.appliedCount() > before && members.every((n) => n.applied.length === l.applied.length)) {
        return true;
      }
    }
    return false;
  }
}

export { MessageType };
