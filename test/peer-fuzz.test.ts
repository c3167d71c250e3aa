/**
 * Hostile input on the peer port, property-based (fast-check, seeded like test/fuzz.test.ts:
 * AXIS_FUZZ_SEED picks another seed, AXIS_FUZZ_RUNS raises the run count). A 3-member cluster runs
 * in this process over real ZeroMQ; raw DEALERs connect to its members' peer ROUTERs (a peer names
 * itself by its routing id, the member id in decimal) and send forged frames.
 *
 * What a forged frame may do depends on whom it claims to come from:
 * - From outside the cluster (a routing id or member id that is no member's, messages naming an
 *   unknown sender inside a member's batch, another cluster, another version, bytes that do not
 *   decode, cut or flipped frames, oversized frames): dropped, without any effect. Every forged term
 *   there is a million or more ahead, so any term a member takes from one shows; so would a leader
 *   id that is no member's, and a forged write ('forged/...') reaching a store.
 * - From a member (a DEALER with a real member's routing id): Raft trusts its peers (with CURVE
 *   keys, only holders of the cluster's peer key are peers at all, see ts/security). A message
 *   with a higher term from a member legitimately disrupts leadership, so the property is safety
 *   and recovery: no member stops, every acknowledged write survives, the cluster serves writes
 *   and linearizable reads again, the members' key-space hashes agree, nothing forged is applied.
 *   Messages that no correct member could send (zero terms, entries out of sequence, proposals
 *   without entries or with undecodable ones, snapshots without a ticket, acknowledgements of
 *   entries the leader never had, commits past the log's end, absurd terms) must be dropped or
 *   survived. What a member's word alone can make true is left out, as Raft cannot tell it from
 *   the truth: appends of forged entries where the log might match, commits or acknowledgements
 *   of entries the claimed sender does not hold, granted votes, the removed-member notice, and
 *   proposals of well-formed writes or membership changes (see `trustedHarm`).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Dealer } from 'zeromq';
import { connect, type Client } from '../ts/client/index.js';
import { decodePeerBatch, encodePeerBatch, PEER_BATCH_VERSION } from '../ts/proto/raft.js';
import { decodeConfChange, encodeConfChange } from '../ts/raft/confchange.js';
import type { Entry, Message, MessageType, NodeId } from '../ts/raft/types.js';
import { decodeEntry, encodeEntry } from '../ts/server/entry.js';
import { REMOVED_NOTICE } from '../ts/server/membership.js';
import { encodeTicket } from '../ts/server/snapshot.js';
import { encodeWrite } from '../ts/storage/index.js';
import { MAX_PEER_FRAME_BYTES, ZmqTransport } from '../ts/transport/index.js';
import { startCluster, type TestCluster } from './support/cluster.js';
import { freePorts } from './support/ports.js';
import { tempDirs, until } from './support/fixtures.js';

const dir = tempDirs('peer-fuzz');
const RUNS = Number(process.env.AXIS_FUZZ_RUNS ?? 300);
const SEED = Number(process.env.AXIS_FUZZ_SEED ?? 4242);
/** Runs per property: each run is a burst of frames, then the cluster must serve again. */
const BURSTS = Math.max(5, Math.ceil(RUNS / 10));
/** A member's word disrupts leadership: each of these bursts waits for an election, so fewer run. */
const MEMBER_BURSTS = Math.max(5, Math.ceil(RUNS / 20));
/** Forged terms from outside are at least this far ahead: a member that took one shows it. */
const FAR = 1_000_000;
/** A member id no member has. */
const STRANGER = 4_242_424_242;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const TYPES = [
  'hup', 'beat', 'prop', 'app', 'appResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'heartbeat', 'heartbeatResp', 'snap',
  'unreachable', 'checkQuorum', 'readIndex', 'readIndexResp', 'transferLeader', 'timeoutNow', 'snapStatus',
] as MessageType[];

// ---- what a forged message is made of, relative to the cluster as it is when it is sent ----------

const TERMS = ['zero', 'one', 'stale', 'current', 'next', 'ahead', 'far', 'huge', 'max'] as const;
const INDEXES = ['zero', 'one', 'commit', 'last', 'beyond', 'far', 'huge', 'max'] as const;
type TermKind = (typeof TERMS)[number];
type IndexKind = (typeof INDEXES)[number];
interface Rel<K> { kind: K; k: number }

const rel = <K extends string>(kinds: readonly K[]) => fc.record({ kind: fc.constantFrom(...kinds), k: fc.nat(40) });
const termOf = rel(TERMS);
const indexOf = rel(INDEXES);
/** Outsiders' terms: the current one (a leader id shows then), or far ahead. */
const outsiderTerm = rel(['current', 'far', 'huge', 'max'] as const);

const entrySpec = fc.record({
  term: termOf,
  /** 'next': in sequence after the previous one (as a leader sends them); otherwise anywhere. */
  index: fc.oneof(fc.constant('next' as const), indexOf),
  type: fc.constantFrom(0, 1, 1),
  data: fc.constantFrom('empty', 'junk', 'write', 'conf'),
  junk: fc.uint8Array({ maxLength: 40 }),
});

const snapSpec = fc.record({
  index: indexOf,
  term: termOf,
  voters: fc.constantFrom('all', 'target', 'none', 'stranger'),
  data: fc.constantFrom('empty', 'junk', 'ticketGone', 'ticketNowhere', 'removed'),
  junk: fc.uint8Array({ maxLength: 40 }),
});

const messageSpec = (term: fc.Arbitrary<Rel<TermKind>>) =>
  fc.record({
    type: fc.constantFrom(...TYPES),
    from: fc.constantFrom('sender', 'sender', 'sender', 'member', 'target', 'stranger', 'zero'),
    to: fc.constantFrom('target', 'target', 'target', 'target', 'sender', 'zero'),
    term,
    logTerm: termOf,
    index: indexOf,
    commit: indexOf,
    reject: fc.boolean(),
    rejectHint: indexOf,
    entries: fc.array(entrySpec, { maxLength: 3 }),
    snapshot: fc.option(snapSpec, { nil: undefined }),
    context: fc.option(fc.uint8Array({ maxLength: 16 }), { nil: undefined }),
    transfer: fc.option(fc.boolean(), { nil: undefined }),
    chunk: fc.option(fc.record({ offset: fc.nat(4096), total: fc.oneof(fc.nat(4096), fc.constant(2 ** 40)) }), { nil: undefined }),
  });
type MessageSpec = ReturnType<typeof messageSpec> extends fc.Arbitrary<infer T> ? T : never;

/** How a batch reaches the wire: whole, cut short, with bytes flipped, or as plain bytes. */
const shape = fc.record({
  form: fc.constantFrom('whole', 'whole', 'whole', 'cut', 'flipped', 'bytes'),
  cut: fc.nat(),
  flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }),
  bytes: fc.uint8Array({ maxLength: 300 }),
});

// ---- the cluster as a forger sees it --------------------------------------------------------

interface View {
  ids: NodeId[];
  clusterId: number;
  peerUrls: string[];
  clientUrls: string[];
  states: { term: number; commit: number; last: number }[];
}

function look(c: TestCluster): View {
  const ms = c.servers.map((s) => s!.member);
  return {
    ids: ms.map((m) => m.id),
    clusterId: ms[0]!.clusterId,
    peerUrls: ms.map((m) => m.config.peerListen),
    clientUrls: c.endpoints,
    states: ms.map((m) => {
      const s = m.status();
      return { term: s.term, commit: s.commitIndex, last: s.lastIndex };
    }),
  };
}

/** Who sends, and whom the messages are about: `target` receives, `sender` is claimed (a member index, or the stranger). */
interface Roles { v: View; target: number; sender: number | 'stranger' }

function term(r: Rel<TermKind>, s: { term: number }): number {
  switch (r.kind) {
    case 'zero': return 0;
    case 'one': return 1;
    case 'stale': return Math.max(1, s.term - 1 - r.k);
    case 'current': return s.term;
    case 'next': return s.term + 1;
    case 'ahead': return s.term + 2 + r.k;
    case 'far': return s.term + FAR + r.k;
    case 'huge': return 2 ** 40 + r.k;
    case 'max': return 2 ** 53 - 1 - r.k;
  }
}

function index(r: Rel<IndexKind>, s: { commit: number; last: number }): number {
  switch (r.kind) {
    case 'zero': return 0;
    case 'one': return 1;
    case 'commit': return Math.max(0, s.commit - r.k);
    case 'last': return s.last;
    case 'beyond': return s.last + 1 + r.k;
    case 'far': return s.last + FAR + r.k;
    case 'huge': return 2 ** 40 + r.k;
    case 'max': return 2 ** 53 - 1 - r.k;
  }
}

function idOf(who: string, { v, target, sender }: Roles): NodeId {
  const senderId = sender === 'stranger' ? STRANGER : v.ids[sender]!;
  switch (who) {
    case 'sender': return senderId;
    case 'target': return v.ids[target]!;
    case 'member': return v.ids.find((id) => id !== senderId && id !== v.ids[target]) ?? senderId;
    case 'stranger': return STRANGER;
    default: return 0;
  }
}

/** A write a forger would like applied: its key shows in any store it reaches. */
function forgedWrite(k: number): Uint8Array {
  return encodeEntry({ client: 777, seq: k + 1, floor: 0, body: encodeWrite({ put: { key: `forged/${k}`, value: 'x' } }) });
}

function build(spec: MessageSpec, roles: Roles): Message {
  const { v, target } = roles;
  const t = v.states[target]!;
  const m: Message = {
    type: spec.type,
    from: idOf(spec.from, roles),
    to: spec.to === 'target' ? v.ids[target]! : idOf(spec.to, roles),
    term: term(spec.term, t),
    logTerm: term(spec.logTerm, t),
    index: index(spec.index, t),
    entries: [],
    commit: index(spec.commit, t),
    reject: spec.reject,
    rejectHint: index(spec.rejectHint, t),
  };
  let at = m.index;
  m.entries = spec.entries.map((e, i): Entry => {
    at = e.index === 'next' ? at + 1 : index(e.index, t);
    const data = e.data === 'empty' ? new Uint8Array(0)
      : e.data === 'junk' ? e.junk
        : e.data === 'write' ? forgedWrite(i + e.junk.length * 8)
          : encodeConfChange({ transition: 'auto', changes: [{ type: 'removeNode', nodeId: v.ids[target]! }] });
    return { term: term(e.term, t), index: at, type: e.type, data };
  });
  if (spec.snapshot) {
    const s = spec.snapshot;
    const voters = s.voters === 'all' ? v.ids : s.voters === 'target' ? [v.ids[target]!] : s.voters === 'stranger' ? [STRANGER] : [];
    const data = s.data === 'empty' ? new Uint8Array(0)
      : s.data === 'junk' ? s.junk
        : s.data === 'removed' ? REMOVED_NOTICE
          // A copy the member does not have, or an address that is not one.
          : encodeTicket({ clientUrl: s.data === 'ticketGone' ? v.clientUrls[(target + 1) % 3]! : 'nowhere', id: 987_654_321, size: 4096 });
    m.snapshot = { meta: { index: index(s.index, t), term: term(s.term, t), confState: { voters, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false } }, data };
  }
  if (spec.context) m.context = spec.context;
  if (spec.transfer !== undefined) m.transfer = spec.transfer;
  if (spec.chunk) m.chunk = spec.chunk;
  return m;
}

function reshape(frame: Uint8Array, s: { form: string; cut: number; flips: [number, number][]; bytes: Uint8Array }): Uint8Array {
  if (s.form === 'bytes') return s.bytes;
  const f = Buffer.from(frame);
  if (s.form === 'cut') return f.subarray(0, s.cut % Math.max(1, f.length));
  if (s.form === 'flipped') for (const [at, x] of s.flips) f[at % f.length] = f[at % f.length]! ^ x;
  return f;
}

/**
 * Whether `m`, taken at face value from the member it names, could make Raft accept something
 * false: Raft trusts its peers' word on these (see the file's comment), so the forger leaves them
 * out. Everything else a correct member could never send must be dropped or survived.
 */
function trustedHarm(m: Message, v: View, target: number): boolean {
  const t = v.states[target]!;
  const maxLast = Math.max(...v.states.map((s) => s.last));
  const from = v.ids.indexOf(m.from);
  const sender = from >= 0 ? v.states[from]! : undefined;
  switch (m.type) {
    case 'app': {
      const inSequence = m.entries.every((e, i) => e.index === m.index + 1 + i && e.term >= m.logTerm && e.term <= m.term && (i === 0 || e.term >= m.entries[i - 1]!.term));
      const mayMatch = m.logTerm > 0 && m.index <= t.last;
      if (m.entries.length > 0) return inSequence && mayMatch;
      return mayMatch && m.index > t.commit && m.commit > t.commit;
    }
    case 'heartbeat':
      return m.commit > t.commit && m.commit <= t.last;
    case 'appResp':
      // An acknowledgement of entries the claimed sender does not hold (yet) that the leader has.
      return !m.reject && sender !== undefined && m.index > sender.commit && m.index <= maxLast + 1000;
    case 'voteResp':
      return !m.reject;
    case 'prop':
      return m.entries.some((e) => {
        try {
          if (e.type === 1) decodeConfChange(e.data);
          else decodeEntry(e.data);
          return true;
        } catch {
          return false;
        }
      });
    case 'snap':
      return m.snapshot !== undefined && Buffer.from(m.snapshot.data).equals(REMOVED_NOTICE);
    default:
      return false;
  }
}

/** Raw DEALERs, one per (address, routing id), kept until closed. */
class Forger {
  private readonly sockets = new Map<string, Dealer>();
  sent = 0;

  async send(address: string, routingId: string, frame: Uint8Array): Promise<void> {
    const key = `${address} ${routingId}`;
    let d = this.sockets.get(key);
    if (!d) {
      d = new Dealer({ routingId, linger: 0, sendTimeout: 2000 });
      d.connect(address);
      this.sockets.set(key, d);
    }
    await d.send(frame).catch(() => undefined);
    this.sent++;
  }

  close(): void {
    for (const d of this.sockets.values()) d.close();
    this.sockets.clear();
  }
}

async function serving(cl: Client, what: string): Promise<void> {
  await until(`the cluster to serve again ${what}`, 30_000, async () => {
    await cl.put('probe', what);
    return (await cl.get('probe'))?.value.toString() === what ? true : undefined;
  });
}

/** Every member: running, the same hash of the key space at one revision, nothing forged in its store. */
async function converged(c: TestCluster, cl: Client): Promise<void> {
  for (const s of c.servers) assert.equal(s!.member.failed, undefined, `member ${s!.member.config.name} stopped: ${s!.member.failed?.message}`);
  const revision = (await cl.prefix('', { keysOnly: true })).revision;
  const hashes: string[] = [];
  for (const e of c.endpoints) {
    const one = await connect({ endpoints: [e], timeoutMs: 15_000 });
    try {
      hashes.push((await one.hashKv(revision)).hash);
    } finally {
      await one.close();
    }
  }
  assert.equal(new Set(hashes).size, 1, `members' hashes at revision ${revision} differ: ${hashes.join(' ')}`);
  for (const s of c.servers) assert.equal(s!.member.store.prefix('forged/').count, 0, `a forged write reached ${s!.member.config.name}'s store`);
}

describe('hostile input on the peer port', { timeout: 240_000 + (BURSTS + MEMBER_BURSTS) * 6000 }, () => {
  const clusters: TestCluster[] = [];
  const forgers: Forger[] = [];
  after(async () => {
    for (const f of forgers) f.close();
    for (const c of clusters) await c.close();
  });

  it('what the fuzzer found: strangers, impossible messages and unreadable proposals stop no member and change nothing', async () => {
    const c = await startCluster(3, dir);
    clusters.push(c);
    const leader = await c.leader();
    const cl = await c.client();
    await cl.put('k', 'v');
    const forger = new Forger();
    forgers.push(forger);
    const v = look(c);
    const follower = (leader + 1) % 3;
    const other = (leader + 2) % 3;
    const lead = v.states[leader]!;
    const send = (to: number, from: NodeId, messages: Message[], routingId = String(from)) =>
      forger.send(v.peerUrls[to]!, routingId, encodePeerBatch({ clusterId: v.clusterId, from, messages }));
    const msg = (m: Partial<Message> & Pick<Message, 'type' | 'from' | 'to'>): Message => ({ term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, ...m });
    const write = { term: 0, index: 0, type: 0, data: forgedWrite(1) } as Entry;
    // A stranger: a heartbeat at the current term (its followers would take it for their leader),
    // a vote far ahead (they would take its term), a proposal of a write (the leader would apply it).
    await send(follower, STRANGER, [msg({ type: 'heartbeat' as MessageType, from: STRANGER, to: v.ids[follower]!, term: lead.term })]);
    await send(leader, STRANGER, [msg({ type: 'vote' as MessageType, from: STRANGER, to: v.ids[leader]!, term: lead.term + FAR, index: 2 ** 40, logTerm: lead.term + FAR })]);
    await send(leader, STRANGER, [msg({ type: 'prop' as MessageType, from: STRANGER, to: v.ids[leader]!, entries: [write] })]);
    // A member's batch holding a proposal that names the stranger as its origin.
    await send(leader, v.ids[follower]!, [msg({ type: 'prop' as MessageType, from: STRANGER, to: v.ids[leader]!, entries: [write] })]);
    // A member's word, but nothing a member sends: an entry no member can read (every member would
    // stop applying it), a proposal without entries (the leader threw), a snapshot that is no
    // ticket (the follower's Raft took it, the member had pulled nothing: it stopped).
    await send(leader, v.ids[other]!, [msg({ type: 'prop' as MessageType, from: v.ids[other]!, to: v.ids[leader]!, entries: [{ term: 0, index: 0, type: 0, data: new Uint8Array([0xde, 0xad]) } as Entry] })]);
    await send(leader, v.ids[other]!, [msg({ type: 'prop' as MessageType, from: v.ids[other]!, to: v.ids[leader]!, term: lead.term })]);
    const meta = { index: lead.last + 10, term: lead.term, confState: { voters: v.ids, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false } };
    await send(follower, v.ids[leader]!, [msg({ type: 'snap' as MessageType, from: v.ids[leader]!, to: v.ids[follower]!, term: lead.term, snapshot: { meta, data: new Uint8Array() } })]);
    // A ticket whose address is none: connecting to it failed in a promise nobody awaited yet, an
    // unhandled rejection, which stops a Node process.
    await send(other, v.ids[leader]!, [msg({ type: 'snap' as MessageType, from: v.ids[leader]!, to: v.ids[other]!, term: lead.term, snapshot: { meta, data: encodeTicket({ clientUrl: 'nowhere', id: 1, size: 10 }) } })]);
    await sleep(300);
    forger.close();
    await serving(cl, 'after the forged messages');
    for (const s of c.servers) {
      const st = s!.member.status();
      assert.ok(st.term < FAR, `${st.name} took a forged term: ${st.term}`);
      assert.notEqual(st.leader, STRANGER);
    }
    await converged(c, cl);
  });

  it("a stranger that floods a member's peer port past its high-water mark and hangs up does not abort the process, and frames past the size limit are refused", async () => {
    // libzmq 4.3.5 asserts (!_io_error, stream_engine_base.cpp) when a socket with ZMTP heartbeats
    // has stopped reading (its queue to the application is full) and its peer hangs up: the next
    // heartbeat aborts the whole process. The peer ROUTER used to run heartbeats.
    const [port] = await freePorts(1);
    const address = `tcp://127.0.0.1:${port}`;
    let received = 0;
    const t = new ZmqTransport({ id: 1, clusterId: 7, listen: address, peers: new Map(), onMessages: () => received++, onUnreachable: () => undefined, log: () => undefined });
    await t.start();
    try {
      const d = new Dealer({ routingId: String(STRANGER), linger: 0, sendHighWaterMark: 2000 });
      d.connect(address);
      const frame = new Uint8Array(256 * 1024);
      for (let i = 0; i < 600; i++) await d.send(frame); // queued on the DEALER: its I/O thread sends them
      // The member's event loop is busy: its ROUTER's queue fills and it stops reading.
      const block = (ms: number) => {
        const until = Date.now() + ms;
        while (Date.now() < until) {
          // busy
        }
      };
      block(1500);
      d.close();
      block(2500); // past a heartbeat interval (1 s) with the peer gone
      await sleep(100);
      // An oversized frame (past the ROUTER's message size limit) is refused by ZeroMQ itself.
      const big = new Dealer({ routingId: String(STRANGER + 1), linger: 0 });
      big.connect(address);
      await big.send(encodePeerBatch({ clusterId: 7, from: STRANGER + 1, messages: [{ type: 'app' as MessageType, from: STRANGER + 1, to: 1, term: 1, logTerm: 0, index: 0, entries: [{ term: 1, index: 1, type: 0, data: new Uint8Array(MAX_PEER_FRAME_BYTES + 1) }], commit: 0, reject: false, rejectHint: 0 }] }));
      await sleep(500);
      big.close();
      assert.equal(received, 0, 'nothing a stranger sent reached the member');
    } finally {
      await t.close();
    }
  });

  it('frames from outside the cluster are dropped without effect', async () => {
    const c = await startCluster(3, dir);
    clusters.push(c);
    await c.leader();
    const cl = await c.client();
    const forger = new Forger();
    forgers.push(forger);
    const shot = fc.record({
      target: fc.nat(2),
      member: fc.nat(2),
      /** stranger: a routing id and member id no member has; garbage: a routing id that is no id, claiming a member; inside: a member's connection, messages naming the stranger; cluster/version: a member's, of another cluster or version. */
      who: fc.constantFrom('stranger', 'stranger', 'garbage', 'inside', 'cluster', 'version'),
      garbageId: fc.string({ minLength: 1, maxLength: 12 }).map((s) => `x${s}`),
      messages: fc.array(messageSpec(outsiderTerm), { minLength: 1, maxLength: 4 }),
      shape,
      oversized: fc.nat(20).map((n) => n === 0),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(shot, { minLength: 1, maxLength: 12 }), async (shots) => {
        run++;
        for (const s of shots) {
          const v = look(c);
          const member = s.member === s.target ? (s.target + 1) % 3 : s.member;
          const stranger = s.who === 'stranger' || s.who === 'garbage';
          const roles: Roles = { v, target: s.target, sender: s.who === 'stranger' ? 'stranger' : member };
          let messages = s.messages.map((spec) => build(spec, roles));
          // Inside a member's batch, every message names the stranger as its sender.
          if (s.who === 'inside') messages = messages.map((m) => ({ ...m, from: STRANGER }));
          if (s.oversized && stranger) messages.push({ ...messages[0]!, type: 'app' as MessageType, entries: [{ term: 1, index: 1, type: 0, data: new Uint8Array(8 * 1024 * 1024) }] });
          const batchFrom = s.who === 'stranger' ? STRANGER : v.ids[member]!;
          const frame = encodePeerBatch({
            clusterId: s.who === 'cluster' ? v.clusterId + 1 : v.clusterId,
            from: batchFrom,
            messages,
            ...(s.who === 'version' ? { version: PEER_BATCH_VERSION + 1 } : {}),
          });
          const routingId = s.who === 'stranger' ? String(STRANGER) : s.who === 'garbage' ? s.garbageId : String(v.ids[member]);
          // Cut or flipped frames only from strangers: from a member's id they could become a member's word.
          await forger.send(v.peerUrls[s.target]!, routingId, stranger ? reshape(frame, s.shape) : frame);
        }
        await sleep(50);
        await serving(cl, `after outsiders' burst ${run}`);
        for (const s of c.servers) {
          const st = s!.member.status();
          assert.ok(st.term < FAR, `${st.name} took a forged term: ${st.term}`);
          assert.ok(st.leader === 0 || look(c).ids.includes(st.leader), `${st.name} follows a leader that is no member: ${st.leader}`);
        }
      }),
      { numRuns: BURSTS, seed: SEED, endOnFailure: true, includeErrorInReport: true },
    );
    forger.close();
    assert.ok(forger.sent > BURSTS, `${forger.sent} frames sent`);
    await serving(cl, 'at the end');
    await converged(c, cl);
  });

  it("a member's id: nonsense and stale or future messages leave every acknowledged write, one key space, and a serving cluster", async () => {
    const c = await startCluster(3, dir);
    clusters.push(c);
    await c.leader();
    const cl = await c.client({ timeoutMs: 5000 });
    const shot = fc.record({
      target: fc.nat(2),
      sender: fc.nat(1),
      messages: fc.array(messageSpec(termOf), { minLength: 1, maxLength: 4 }),
      shape,
    });
    const acked: string[] = [];
    let run = 0;
    let sent = 0;
    let skipped = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(shot, { minLength: 1, maxLength: 12 }), async (shots) => {
        run++;
        // Meanwhile a client writes; what it was told succeeded must survive.
        let writing = true;
        const writer = (async () => {
          for (let i = 0; writing; i++) {
            const key = `ack/${run}/${i}`;
            try {
              await cl.put(key, 'v');
              acked.push(key);
            } catch {
              // not acknowledged: may or may not be there
            }
          }
        })();
        const forger = new Forger();
        forgers.push(forger);
        try {
          for (const s of shots) {
            const v = look(c);
            const sender = (s.target + 1 + s.sender) % 3;
            const messages = s.messages.map((spec) => build(spec, { v, target: s.target, sender }));
            const frame = reshape(encodePeerBatch({ clusterId: v.clusterId, from: v.ids[sender]!, messages }), s.shape);
            let decoded: Message[] = [];
            try {
              decoded = decodePeerBatch(frame).messages;
            } catch {
              // does not decode: sent as it is
            }
            if (decoded.some((m) => trustedHarm(m, v, s.target))) {
              skipped++;
              continue;
            }
            await forger.send(v.peerUrls[s.target]!, String(v.ids[sender]), frame);
            sent++;
            await sleep(2);
          }
          await sleep(50);
        } finally {
          // The forger held members' routing ids (the ROUTERs hand a connection over to the newest
          // one): closing it gives the real members their connections back.
          forger.close();
          writing = false;
          await writer;
        }
        await serving(cl, `after burst ${run}`);
        for (const s of c.servers) assert.equal(s!.member.failed, undefined, `member ${s!.member.config.name} stopped: ${s!.member.failed?.message}`);
      }),
      { numRuns: MEMBER_BURSTS, seed: SEED + 1, endOnFailure: true, includeErrorInReport: true },
    );
    assert.ok(sent > skipped, `${sent} frames sent, ${skipped} left out`);
    const present = new Set((await cl.prefix('ack/', { keysOnly: true })).kvs.map((kv) => kv.key.toString()));
    const lost = acked.filter((k) => !present.has(k));
    assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged writes lost`);
    assert.ok(acked.length > 0);
    await converged(c, cl);
  });
});
