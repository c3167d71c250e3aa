/**
 * The peer transport: one suite run against the in-memory network and against ZeroMQ on 127.0.0.1,
 * plus the wire format (raft.proto) on its own and the memory network's test controls.
 * Every wait is bounded; nothing asserts on timing.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Dealer } from 'zeromq';
import { ErrorCode, isAxisError } from '../ts/errors/index.js';
import {
  MemoryNetwork, PEER_BATCH_VERSION, ZmqTransport, decodePeerBatch, encodePeerBatch,
  type Transport, type TransportOptions, type TransportStats,
} from '../ts/transport/index.js';
import { EntryType, MessageType, emptyConfState, message, type Message, type NodeId } from '../ts/raft/types.js';
import { freePorts } from './support/ports.js';

// ---- helpers ----------------------------------------------------------------------------------

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const WARM_UP = new Uint8Array([0x77, 0x61, 0x72, 0x6d]);
const warmUp = (from: NodeId, to: NodeId): Message => ({ ...message({ type: MessageType.Heartbeat, from, to }), context: WARM_UP });
const isWarmUp = (m: Message) => m.type === MessageType.Heartbeat && m.context !== undefined && Buffer.from(m.context).equals(WARM_UP);

/** What one transport saw. */
class Probe {
  readonly batches: Message[][] = [];
  readonly unreachable: NodeId[] = [];
  readonly logs: string[] = [];
  inSend = false;
  unreachableInsideSend = false;

  /** Messages received (warm-up heartbeats left out), from `from` or anyone. */
  messages(from?: NodeId): Message[] {
    return this.batches.flat().filter((m) => !isWarmUp(m) && (from === undefined || m.from === from));
  }

  /** Batches from `from` holding at least one message that is not a warm-up heartbeat. */
  batchesFrom(from: NodeId): number {
    return this.batches.filter((b) => b.some((m) => m.from === from && !isWarmUp(m))).length;
  }

  warmedUpBy(from: NodeId): boolean {
    return this.batches.some((b) => b.some((m) => m.from === from && isWarmUp(m)));
  }

  logged(code: string): number {
    return this.logs.filter((l) => l.includes(code)).length;
  }
}

type Extra = Partial<Omit<TransportOptions, 'onMessages' | 'onUnreachable' | 'log'>>;

/** What the suite needs from an implementation. */
interface Harness {
  /** `n` fresh listen addresses. */
  addresses(n: number): Promise<string[]>;
  create(options: TransportOptions): Transport;
  /** Deliver raw frames to whoever listens on `address`, as a socket with routing id `routingId`. */
  inject(address: string, routingId: string, frames: Uint8Array[]): Promise<void>;
  dispose(): Promise<void>;
}

interface Queued {
  queued(peer: NodeId): number;
  stats: TransportStats;
}

const CLUSTER = 0x1234_5678_9abc; // above 2^32: exercises the 64-bit path

/** A message of every field, nothing left at its default. */
function fullMessage(from: NodeId, to: NodeId, seq: number): Message {
  return {
    type: MessageType.Snap,
    from,
    to,
    term: 2 ** 40 + seq,
    logTerm: 2 ** 53 - 1,
    index: seq,
    entries: [
      { term: 7, index: 8, type: EntryType.Normal, data: new Uint8Array([0, 1, 2, 0xfe, 0xff, 0]) },
      { term: 7, index: 9, type: EntryType.ConfChange, data: new Uint8Array(0) },
      { term: 7, index: 10, type: EntryType.Normal, data: Uint8Array.from({ length: 1000 }, (_, i) => (i * 31 + seq) & 0xff) },
    ],
    commit: 99,
    reject: true,
    rejectHint: 12345,
    snapshot: {
      meta: { index: 42, term: 6, confState: { voters: [1, 2, 3], votersOutgoing: [1, 2, 4], learners: [5], learnersNext: [4], autoLeave: true } },
      data: new Uint8Array([9, 8, 7, 0, 255]),
    },
    context: new Uint8Array([0xca, 0xfe, seq & 0xff]),
    transfer: true,
    chunk: { offset: 4096, total: 2 ** 33 },
  };
}

/** Messages of every type that crosses the network, with assorted optional fields present or absent. */
function someMessages(from: NodeId, to: NodeId, count: number, first = 0): Message[] {
  const types = [
    MessageType.Prop, MessageType.App, MessageType.AppResp, MessageType.Vote, MessageType.VoteResp, MessageType.PreVote,
    MessageType.PreVoteResp, MessageType.Heartbeat, MessageType.HeartbeatResp, MessageType.Snap, MessageType.ReadIndex,
    MessageType.ReadIndexResp, MessageType.TransferLeader, MessageType.TimeoutNow,
  ];
  const out: Message[] = [];
  for (let i = first; i < first + count; i++) {
    const type = types[i % types.length]!;
    if (i % 7 === 3) {
      out.push(fullMessage(from, to, i));
      continue;
    }
    const m = message({ type, from, to, term: 3, index: i, commit: i >> 1 });
    if (type === MessageType.App) m.entries = [{ term: 3, index: i + 1, type: EntryType.Normal, data: new TextEncoder().encode(`v${i}`) }];
    if (type === MessageType.ReadIndex || type === MessageType.Heartbeat) m.context = new Uint8Array(i % 2 === 0 ? 0 : 8).fill(i & 0xff);
    if (type === MessageType.Vote || type === MessageType.PreVote) m.transfer = i % 2 === 0;
    if (type === MessageType.AppResp) {
      m.reject = i % 2 === 0;
      m.rejectHint = i;
    }
    out.push(m);
  }
  return out;
}

// ---- the suite ----------------------------------------------------------------------------------

export function transportSuite(name: string, factory: () => Harness): void {
  describe(`transport: ${name}`, () => {
    const harness = factory();
    const open: Transport[] = [];
    after(async () => {
      await Promise.all(open.map((t) => t.close()));
      await harness.dispose();
    });

    function make(id: NodeId, listen: string, peers: [NodeId, string][], extra: Extra = {}, probe = new Probe()): { t: Transport; probe: Probe } {
      const t = harness.create({
        id,
        clusterId: CLUSTER,
        listen,
        peers: new Map(peers),
        ...extra,
        onMessages: (ms) => probe.batches.push(ms),
        onUnreachable: (p) => {
          if (probe.inSend) probe.unreachableInsideSend = true;
          probe.unreachable.push(p);
        },
        log: (line) => probe.logs.push(line),
      });
      open.push(t);
      // Watch that onUnreachable is never called from inside send().
      const send = t.send.bind(t);
      t.send = (ms) => {
        probe.inSend = true;
        try {
          send(ms);
        } finally {
          probe.inSend = false;
        }
      };
      return { t, probe };
    }

    /** Send heartbeats until every pair has delivered one (connections are up). */
    async function connectAll(members: { id: NodeId; t: Transport; probe: Probe }[]): Promise<void> {
      for (const m of members) m.probe.batches.length = 0;
      const seen = () => members.every((r) => members.every((s) => s === r || r.probe.warmedUpBy(s.id)));
      const deadline = Date.now() + 15_000;
      while (!seen()) {
        if (Date.now() > deadline) throw new Error('timed out connecting the members');
        for (const s of members) s.t.send(members.filter((r) => r !== s).map((r) => warmUp(s.id, r.id)));
        await sleep(20);
      }
    }

    it('three members exchange messages: every field round-trips, per-sender order holds, sends of one turn go as one batch', { timeout: 30_000 }, async () => {
      const addrs = await harness.addresses(3);
      const ids = [1, 2, 3];
      const members = ids.map((id, i) => ({ id, ...make(id, addrs[i]!, ids.filter((x) => x !== id).map((x) => [x, addrs[x - 1]!] as [NodeId, string])) }));
      await Promise.all(members.map((m) => m.t.start()));
      await connectAll(members);

      // Many send() calls in one turn, one message each, interleaving the destinations; and one
      // send() of a mixed array (grouped by m.to).
      const sent = new Map<string, Message[]>();
      for (const s of members) {
        const perPeer = members.filter((r) => r !== s).map((r) => someMessages(s.id, r.id, 120));
        for (let i = 0; i < 100; i++) for (const list of perPeer) s.t.send([list[i]!]);
        s.t.send(perPeer.flatMap((list) => list.slice(100)));
        for (const list of perPeer) sent.set(`${s.id}>${list[0]!.to}`, list);
      }
      await waitFor('every message', () => members.every((r) => members.every((s) => s === r || r.probe.messages(s.id).length >= 120)));
      for (const r of members) {
        for (const s of members) {
          if (s === r) continue;
          assert.deepStrictEqual(r.probe.messages(s.id), sent.get(`${s.id}>${r.id}`), `${s.id} -> ${r.id}`);
        }
        for (const batch of r.probe.batches) for (const m of batch) assert.equal(m.to, r.id);
      }
      // Sends in one turn travel together: the 100 single sends and the array, one batch per pair.
      for (const r of members) for (const s of members) if (s !== r) assert.equal(r.probe.batchesFrom(s.id), 1, `batches ${s.id} -> ${r.id}`);
      for (const m of members) assert.deepStrictEqual(m.probe.unreachable, []);
    });

    it('reports a peer that is not running unreachable, and never queues more than maxQueue for it', { timeout: 30_000 }, async () => {
      const [mine, dead] = await harness.addresses(2);
      const { t, probe } = make(1, mine!, [[2, dead!]], { maxQueue: 16 });
      await t.start();
      const q = t as unknown as Queued;
      let most = 0;
      for (let turn = 0; turn < 20; turn++) {
        for (let i = 0; i < 500; i++) t.send([message({ type: MessageType.App, from: 1, to: 2, index: turn * 500 + i, entries: [{ term: 1, index: 1, type: EntryType.Normal, data: new Uint8Array(100) }] })]);
        most = Math.max(most, q.queued(2));
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.ok(most <= 16, `queued ${most} > maxQueue`);
      await waitFor('onUnreachable(2)', () => probe.unreachable.includes(2));
      assert.ok(q.stats.droppedMessages >= 10_000 - 16 * 20, `dropped ${q.stats.droppedMessages}`);
      // Coalesced: nowhere near one call per dropped message.
      assert.ok(probe.unreachable.length < 1000, `${probe.unreachable.length} onUnreachable calls`);
      // Whatever was queued is dropped (and reported) in the end, not kept.
      await waitFor('the queue to drain', () => q.queued(2) === 0);
      await waitFor('every message dropped', () => q.stats.droppedMessages === 10_000);
      // A message to a member that is not a peer at all.
      probe.unreachable.length = 0;
      t.send([message({ type: MessageType.Heartbeat, from: 1, to: 9 })]);
      await waitFor('onUnreachable(9)', () => probe.unreachable.includes(9));
      assert.equal(probe.unreachableInsideSend, false, 'onUnreachable was called from inside send()');
      assert.deepStrictEqual(probe.batches, []);
      await t.close();
    });

    it('a peer that closes and restarts on the same address receives again', { timeout: 40_000 }, async () => {
      const [a1, a2] = await harness.addresses(2);
      const one = { id: 1, ...make(1, a1!, [[2, a2!]]) };
      const two = { id: 2, ...make(2, a2!, [[1, a1!]]) };
      await Promise.all([one.t.start(), two.t.start()]);
      await connectAll([one, two]);

      await two.t.close();
      const atClose = two.probe.batches.length;
      let seq = 0;
      await waitFor('onUnreachable(2) after it closed', () => {
        one.t.send([message({ type: MessageType.App, from: 1, to: 2, index: ++seq })]);
        return one.probe.unreachable.includes(2);
      }, 15_000);

      const again = { id: 2, ...make(2, a2!, [[1, a1!]]) };
      await again.t.start();
      // Both directions: 1's DEALER reconnects to the new ROUTER; the new DEALER (same routing id) is accepted.
      await waitFor('the restarted member to receive', () => {
        one.t.send([message({ type: MessageType.App, from: 1, to: 2, index: ++seq })]);
        again.t.send([message({ type: MessageType.AppResp, from: 2, to: 1, index: seq })]);
        return again.probe.messages(1).length > 0 && one.probe.messages(2).length > 0;
      }, 20_000);
      // Per-sender order across the reconnect: indexes only grow.
      const seen = again.probe.messages(1).map((m) => m.index);
      assert.deepStrictEqual(seen, [...seen].sort((x, y) => x - y));
      assert.equal(two.probe.batches.length, atClose, 'the closed transport received after close');
    });

    it('drops garbage, other versions, other clusters and misaddressed messages with a log line, and keeps working', { timeout: 30_000 }, async () => {
      const [a1, a2, a3] = await harness.addresses(3);
      const one = { id: 1, ...make(1, a1!, [[2, a2!]]) };
      const two = { id: 2, ...make(2, a2!, [[1, a1!]]) };
      await Promise.all([one.t.start(), two.t.start()]);
      await connectAll([one, two]);

      // Each from its own routing id (a second socket with member 2's id would take its connection over).
      const good = (index: number) => [message({ type: MessageType.App, from: 2, to: 1, index })];
      await harness.inject(a1!, 'g1', [new Uint8Array([0xff, 0xff, 0xff, 0xff])]);
      await harness.inject(a1!, 'g2', [new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n')]);
      await harness.inject(a1!, 'g3', [new Uint8Array(0)]);
      await harness.inject(a1!, 'v', [encodePeerBatch({ clusterId: CLUSTER, from: 2, messages: good(1), version: PEER_BATCH_VERSION + 1 })]);
      await harness.inject(a1!, '7', [encodePeerBatch({ clusterId: CLUSTER, from: 2, messages: good(2) })]); // routing id is not the sender
      await harness.inject(a1!, '8', [encodePeerBatch({ clusterId: CLUSTER, from: 8, messages: [message({ type: MessageType.App, from: 8, to: 3 })] })]);
      await harness.inject(a1!, '9', [encodePeerBatch({ clusterId: CLUSTER, from: 9, messages: [message({ type: MessageType.Hup, from: 9, to: 1 })] })]);
      await waitFor('the log lines', () => one.probe.logged(ErrorCode.MALFORMED_REQUEST) === 5 && one.probe.logged(ErrorCode.UNSUPPORTED_VERSION) === 2, 10_000);

      // A member of another cluster, sending for real: dropped, logged once however often it sends.
      const foreign = make(5, a3!, [[1, a1!]], { clusterId: CLUSTER + 1 });
      await foreign.t.start();
      for (let i = 0; i < 5; i++) {
        foreign.t.send([message({ type: MessageType.App, from: 5, to: 1, index: 100 + i })]);
        await sleep(30);
      }
      await waitFor('the cluster mismatch log line', () => one.probe.logged(ErrorCode.CLUSTER_MISMATCH) >= 1, 10_000);
      await sleep(100);
      assert.equal(one.probe.logged(ErrorCode.CLUSTER_MISMATCH), 1, one.probe.logs.join('\n'));
      await foreign.t.close();

      // Still working, and nothing of the above got through.
      two.t.send(good(1000));
      await waitFor('a good message after the bad ones', () => one.probe.messages(2).some((m) => m.index === 1000));
      assert.deepStrictEqual(one.probe.messages().map((m) => m.index), [1000]);
      assert.ok(one.probe.logs.every((l) => l.startsWith('axis transport 1: ')), 'log lines name the member');
    });

    it('an onMessages that throws is logged and does not stop receiving', { timeout: 30_000 }, async () => {
      const [a1, a2] = await harness.addresses(2);
      const probe = new Probe();
      let calls = 0;
      const one = harness.create({
        id: 1, clusterId: CLUSTER, listen: a1!, peers: new Map(),
        onMessages: (ms) => {
          calls++;
          if (calls === 1) throw new Error('boom');
          probe.batches.push(ms);
        },
        onUnreachable: () => undefined,
        log: (l) => probe.logs.push(l),
      });
      open.push(one);
      const two = make(2, a2!, [[1, a1!]]);
      await Promise.all([one.start(), two.t.start()]);
      await waitFor('a second batch', () => {
        two.t.send([message({ type: MessageType.Heartbeat, from: 2, to: 1 })]);
        return probe.batches.length > 0;
      });
      assert.ok(probe.logged(ErrorCode.INTERNAL) >= 1);
    });

    it('adds, moves and removes peers while running', { timeout: 30_000 }, async () => {
      const [a1, a2, a3] = await harness.addresses(3);
      const one = { id: 1, ...make(1, a1!, []) };
      const two = { id: 2, ...make(2, a2!, [[1, a1!]]) };
      await Promise.all([one.t.start(), two.t.start()]);
      one.t.send([message({ type: MessageType.Heartbeat, from: 1, to: 2 })]);
      await waitFor('unknown peer reported', () => one.probe.unreachable.includes(2));
      one.t.addPeer(2, a2!);
      one.t.addPeer(1, a1!); // itself: ignored
      await connectAll([one, two]);
      // Member 2 moves to a new address.
      await two.t.close();
      const moved = { id: 2, ...make(2, a3!, [[1, a1!]]) };
      await moved.t.start();
      one.t.addPeer(2, a3!);
      await connectAll([one, moved]);
      one.t.removePeer(2);
      one.probe.unreachable.length = 0;
      one.t.send([message({ type: MessageType.Heartbeat, from: 1, to: 2, term: 5 })]);
      await waitFor('removed peer reported', () => one.probe.unreachable.includes(2));
      await sleep(50);
      assert.ok(!moved.probe.messages(1).some((m) => m.term === 5), 'a removed peer still got a message');
    });

    it('close is idempotent, stops everything and frees the address', { timeout: 30_000 }, async () => {
      const [a1, a2] = await harness.addresses(2);
      const one = { id: 1, ...make(1, a1!, [[2, a2!]]) };
      const two = { id: 2, ...make(2, a2!, [[1, a1!]]) };
      await Promise.all([one.t.start(), two.t.start()]);
      await connectAll([one, two]);

      // The address is taken while one listens.
      const clash = make(3, a1!, []);
      await assert.rejects(clash.t.start(), (err) => isAxisError(err));
      await clash.t.close();

      one.t.send([message({ type: MessageType.App, from: 1, to: 2 })]);
      await Promise.all([one.t.close(), one.t.close()]);
      await one.t.close();
      const unreachableAtClose = one.probe.unreachable.length;
      const batchesAtClose = one.probe.batches.length;
      one.t.send([message({ type: MessageType.App, from: 1, to: 2 })]); // no throw, no callbacks
      await assert.rejects(one.t.start(), (err) => isAxisError(err, ErrorCode.CLOSED));

      // Nothing arrives at a closed transport; a new one binds the same address and receives.
      const reborn = { id: 1, ...make(1, a1!, [[2, a2!]]) };
      await reborn.t.start();
      await connectAll([reborn, two]);
      await sleep(50);
      assert.equal(one.probe.batches.length, batchesAtClose);
      assert.equal(one.probe.unreachable.length, unreachableAtClose);
      await reborn.t.close();
      await reborn.t.close();
      // Closing a transport that never started is fine too.
      const never = make(4, a1!, []);
      await never.t.close();
      await never.t.close();
    });
  });
}

// ---- the implementations ----------------------------------------------------------------------------

let memoryAddresses = 0;
transportSuite('memory', () => {
  const network = new MemoryNetwork();
  return {
    addresses: async (n) => Array.from({ length: n }, () => `mem://member-${memoryAddresses++}`),
    create: (options) => network.transport(options),
    inject: async (address, routingId, frames) => {
      for (const f of frames) assert.ok(network.inject(address, routingId, f), `nothing listens on ${address}`);
    },
    dispose: async () => undefined,
  };
});

transportSuite('zmq', () => {
  const raw = new Map<string, Dealer>();
  return {
    addresses: async (n) => (await freePorts(n)).map((p) => `tcp://127.0.0.1:${p}`),
    // A short send timeout keeps the unreachable tests quick; everything else is the default.
    create: (options) => new ZmqTransport({ sendTimeout: 300, ...options }),
    inject: async (address, routingId, frames) => {
      // A raw DEALER per (address, routing id): queues until connected, then delivers (kept open until the suite ends).
      let dealer = raw.get(`${address} ${routingId}`);
      if (!dealer) {
        dealer = new Dealer({ routingId, linger: 0 });
        raw.set(`${address} ${routingId}`, dealer);
        dealer.connect(address);
      }
      await dealer.send(frames);
    },
    dispose: async () => {
      for (const d of raw.values()) d.close();
    },
  };
});

// ---- zmq-only: multipart frames -------------------------------------------------------------------

describe('transport: zmq specifics', () => {
  it('drops a multipart message with a log line', { timeout: 20_000 }, async () => {
    const [port] = await freePorts(1);
    const address = `tcp://127.0.0.1:${port}`;
    const probe = new Probe();
    const t = new ZmqTransport({
      id: 1, clusterId: 1, listen: address, peers: new Map(),
      onMessages: (ms) => probe.batches.push(ms), onUnreachable: () => undefined, log: (l) => probe.logs.push(l),
    });
    await t.start();
    const dealer = new Dealer({ routingId: '2', linger: 0 });
    try {
      dealer.connect(address);
      await dealer.send([encodePeerBatch({ clusterId: 1, from: 2, messages: [message({ type: MessageType.App, from: 2, to: 1 })] }), new Uint8Array(1)]);
      await waitFor('the log line', () => probe.logged(ErrorCode.MALFORMED_REQUEST) >= 1);
      await dealer.send(encodePeerBatch({ clusterId: 1, from: 2, messages: [message({ type: MessageType.App, from: 2, to: 1, index: 5 })] }));
      await waitFor('a good frame after it', () => probe.messages().length === 1);
      assert.equal(probe.messages()[0]!.index, 5);
    } finally {
      dealer.close();
      await t.close();
    }
  });

  it('binds a port chosen by the system and reports it', { timeout: 20_000 }, async () => {
    const t = new ZmqTransport({ id: 1, clusterId: 1, listen: 'tcp://127.0.0.1:*', peers: new Map(), onMessages: () => undefined, onUnreachable: () => undefined, log: () => undefined });
    await t.start();
    assert.match(t.address ?? '', /^tcp:\/\/127\.0\.0\.1:\d+$/);
    await t.close();
  });
});

// ---- memory-only: the network's test controls ----------------------------------------------------

describe('transport: memory network controls', () => {
  async function trio(network: MemoryNetwork) {
    const probes = new Map<NodeId, Probe>();
    const ts = new Map<NodeId, Transport>();
    for (const id of [1, 2, 3]) {
      const probe = new Probe();
      probes.set(id, probe);
      const t = network.transport({
        id, clusterId: 1, listen: `m${id}`, peers: new Map([1, 2, 3].filter((x) => x !== id).map((x) => [x, `m${x}`])),
        onMessages: (ms) => probe.batches.push(ms), onUnreachable: (p) => probe.unreachable.push(p), log: (l) => probe.logs.push(l),
      });
      ts.set(id, t);
      await t.start();
    }
    return { probes, ts, close: () => Promise.all([...ts.values()].map((t) => t.close())) };
  }

  const hb = (from: NodeId, to: NodeId, index = 0) => message({ type: MessageType.Heartbeat, from, to, index });

  it('partition cuts both ways and reports unreachable; heal restores', { timeout: 10_000 }, async () => {
    const network = new MemoryNetwork();
    const { probes, ts, close } = await trio(network);
    network.partition(1, [2, 3]);
    ts.get(1)!.send([hb(1, 2), hb(1, 3)]);
    ts.get(2)!.send([hb(2, 1), hb(2, 3)]);
    await waitFor('delivery', () => probes.get(3)!.messages(2).length === 1 && probes.get(1)!.unreachable.length === 2 && probes.get(2)!.unreachable.length === 1);
    assert.deepStrictEqual(probes.get(1)!.messages(), []);
    assert.deepStrictEqual(probes.get(2)!.messages(1), []);
    assert.deepStrictEqual([...probes.get(1)!.unreachable].sort(), [2, 3]);
    network.heal();
    ts.get(1)!.send([hb(1, 2)]);
    await waitFor('delivery after heal', () => probes.get(2)!.messages(1).length === 1);
    network.isolate(3);
    ts.get(1)!.send([hb(1, 3)]);
    await waitFor('isolated', () => probes.get(1)!.unreachable.filter((p) => p === 3).length === 2);
    await close();
  });

  it('drops at a seeded rate, the same messages for the same seed', { timeout: 10_000 }, async () => {
    const run = async (seed: number) => {
      const network = new MemoryNetwork();
      const { probes, ts, close } = await trio(network);
      network.drop(0.3, seed);
      for (let i = 0; i < 20; i++) {
        ts.get(1)!.send(Array.from({ length: 50 }, (_, j) => hb(1, 2, i * 50 + j)));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await waitFor('every message delivered or lost', () => network.randomlyDropped + probes.get(2)!.messages().length === 1000);
      await close();
      return probes.get(2)!.messages().map((m) => m.index);
    };
    const a = await run(7);
    const b = await run(7);
    const c = await run(8);
    assert.deepStrictEqual(a, b);
    assert.notDeepStrictEqual(a, c);
    assert.ok(a.length > 500 && a.length < 900, `${a.length} of 1000 delivered at a 30% drop rate`);
    assert.deepStrictEqual(a, [...a].sort((x, y) => x - y));
  });

  it('object mode shares no frame but still checks the cluster', { timeout: 10_000 }, async () => {
    const network = new MemoryNetwork({ wire: false });
    const probe = new Probe();
    const a = network.transport({ id: 1, clusterId: 1, listen: 'a', peers: new Map(), onMessages: (ms) => probe.batches.push(ms), onUnreachable: () => undefined, log: (l) => probe.logs.push(l) });
    const b = network.transport({ id: 2, clusterId: 2, listen: 'b', peers: new Map([[1, 'a']]), onMessages: () => undefined, onUnreachable: () => undefined, log: () => undefined });
    const c = network.transport({ id: 3, clusterId: 1, listen: 'c', peers: new Map([[1, 'a']]), onMessages: () => undefined, onUnreachable: () => undefined, log: () => undefined });
    await Promise.all([a.start(), b.start(), c.start()]);
    b.send([hb(2, 1)]);
    c.send([hb(3, 1)]);
    await waitFor('delivery', () => probe.messages().length === 1 && probe.logged(ErrorCode.CLUSTER_MISMATCH) === 1);
    assert.equal(probe.messages()[0]!.from, 3);
    await Promise.all([a.close(), b.close(), c.close()]);
  });
});

// ---- the wire format on its own -------------------------------------------------------------------

describe('raft.proto', () => {
  const all = [
    'hup', 'beat', 'prop', 'app', 'appResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'heartbeat', 'heartbeatResp',
    'snap', 'unreachable', 'checkQuorum', 'readIndex', 'readIndexResp', 'transferLeader', 'timeoutNow', 'snapStatus',
  ] as MessageType[];

  it('round-trips every message type and field exactly (absent and empty optionals differ)', () => {
    const messages: Message[] = [
      ...all.map((type, i) => message({ type, from: i + 1, to: 2 ** 53 - 1 - i })),
      fullMessage(1, 2, 3),
      { ...message({ type: MessageType.Heartbeat, from: 1, to: 2 }), context: new Uint8Array(0), transfer: false, chunk: { offset: 0, total: 0 } },
      {
        ...message({ type: MessageType.Snap, from: 1, to: 2 }),
        snapshot: { meta: { index: 0, term: 0, confState: emptyConfState() }, data: new Uint8Array(0) },
      },
    ];
    const batch = decodePeerBatch(encodePeerBatch({ clusterId: 2 ** 53 - 1, from: 77, messages }));
    assert.deepStrictEqual(batch, { version: PEER_BATCH_VERSION, clusterId: 2 ** 53 - 1, from: 77, messages });
    for (const m of batch.messages) for (const e of m.entries) assert.equal(Object.getPrototypeOf(e.data), Uint8Array.prototype);
    assert.deepStrictEqual(decodePeerBatch(encodePeerBatch({ clusterId: 0, from: 0, messages: [] })).messages, []);
  });

  it('copies bytes out of the frame', () => {
    const frame = encodePeerBatch({ clusterId: 1, from: 1, messages: [fullMessage(1, 2, 0)] });
    const m = decodePeerBatch(frame).messages[0]!;
    const before = [...m.entries[0]!.data];
    frame.fill(0);
    assert.deepStrictEqual([...m.entries[0]!.data], before);
  });

  it('rejects frames it cannot trust with stable codes', () => {
    const code = (buf: Uint8Array) => {
      try {
        decodePeerBatch(buf);
        return 'decoded';
      } catch (err) {
        assert.ok(isAxisError(err), String(err));
        return err.code;
      }
    };
    const ok = encodePeerBatch({ clusterId: 1, from: 1, messages: [fullMessage(1, 2, 0)] });
    assert.equal(code(ok), 'decoded');
    assert.equal(code(ok.subarray(0, ok.length - 3)), ErrorCode.MALFORMED_REQUEST);
    assert.equal(code(new Uint8Array([0xff, 0xff, 0xff])), ErrorCode.MALFORMED_REQUEST);
    assert.equal(code(new Uint8Array(0)), ErrorCode.UNSUPPORTED_VERSION); // version 0: not a batch of ours
    const v2 = encodePeerBatch({ clusterId: 1, from: 1, messages: [fullMessage(1, 2, 0)], version: 2 });
    assert.equal(code(v2), ErrorCode.UNSUPPORTED_VERSION);
    assert.equal(code(v2.subarray(0, 40)), ErrorCode.UNSUPPORTED_VERSION); // even truncated: the version comes first
    // Unknown message type (99): field 4 (messages) holding field 1 (type) = 99.
    const unknownType = Buffer.concat([Buffer.from([0x08, PEER_BATCH_VERSION]), Buffer.from([0x22, 0x02, 0x08, 99])]);
    assert.equal(code(unknownType), ErrorCode.MALFORMED_REQUEST);
    // A term of 2^64 - 1: not a safe integer.
    const hugeTerm = Buffer.concat([Buffer.from([0x08, PEER_BATCH_VERSION, 0x22, 0x0d, 0x08, 0x04, 0x20]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])]);
    assert.equal(code(hugeTerm), ErrorCode.MALFORMED_REQUEST);
    assert.throws(() => encodePeerBatch({ clusterId: 1, from: 1, messages: [{ ...message({ type: MessageType.App }), type: 'nope' as MessageType }] }), (err) => isAxisError(err, ErrorCode.INVALID_ARGUMENT));
  });
});
