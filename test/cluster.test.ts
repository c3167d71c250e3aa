/**
 * Members in one process: peers over the in-memory network (partitions on demand), clients over
 * real ZeroMQ on 127.0.0.1. Replication, linearizable reads through any member, apply-once of
 * retried writes, bad requests, restarts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Dealer } from 'zeromq';
import { ErrorCode, isAxisError } from '../ts/errors/index.js';
import { API_VERSION, decodeReply, encodeRequest, joinFrame, splitFrame, type PbReply, type PbRequest } from '../ts/proto/api.js';
import { MemoryNetwork } from '../ts/transport/index.js';
import { tempDirs } from './support/fixtures.js';
import { startCluster, type TestCluster } from './support/cluster.js';

const dir = tempDirs('cluster');

async function withCluster(n: number, fn: (c: TestCluster, net: MemoryNetwork) => Promise<void>): Promise<void> {
  const net = new MemoryNetwork();
  const c = await startCluster(n, dir, { transport: (o) => net.transport(o) });
  try {
    await fn(c, net);
  } finally {
    await c.close();
  }
}

/**
 * Sends raw frames to a member's client endpoint, one at a time, and collects `expect[i]` replies
 * to frame i (one by default; they may come in one frame or several).
 */
async function rawFrames(endpoint: string, frames: Buffer[], expect: number[] = []): Promise<PbReply[][]> {
  const d = new Dealer({ linger: 0, receiveTimeout: 5000 });
  d.connect(endpoint);
  try {
    const out: PbReply[][] = [];
    for (const [i, f] of frames.entries()) {
      await d.send(f);
      const replies: PbReply[] = [];
      while (replies.length < (expect[i] ?? 1)) {
        const [reply] = await d.receive();
        replies.push(...splitFrame(reply!).map(decodeReply));
      }
      out.push(replies);
    }
    return out;
  } finally {
    d.close();
  }
}

/** Sends each request in a frame of its own; one reply each. */
async function raw(endpoint: string, requests: Buffer[]): Promise<PbReply[]> {
  return (await rawFrames(endpoint, requests.map((r) => joinFrame([r])))).map((rs) => {
    assert.equal(rs.length, 1);
    return rs[0]!;
  });
}

function request(r: Omit<PbRequest, 'version'> & { version?: number }): Buffer {
  return encodeRequest({ version: API_VERSION, ...r });
}

async function until(what: string, ms: number, f: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('cluster (members in one process)', { timeout: 120_000 }, () => {
  it('a write through one member is read linearizably through every other', async () => {
    await withCluster(3, async (c) => {
      const leader = await c.leader();
      for (let i = 0; i < 3; i++) {
        const writer = await c.client({ endpoints: [c.endpoints[i]!] });
        const { revision } = await writer.put('k', `from ${i}`);
        for (let j = 0; j < 3; j++) {
          const reader = await c.client({ endpoints: [c.endpoints[j]!] });
          // Linearizable: the write is seen by a read that starts after it was acknowledged.
          const kv = await reader.get('k');
          assert.equal(kv?.value.toString(), `from ${i}`, `written via ${i}, read via ${j}`);
          assert.equal(kv?.modRevision, revision);
        }
      }
      assert.ok(leader >= 0);
    });
  });

  it('a write retried with the same request id is applied once, whichever member gets the retry', async () => {
    await withCluster(3, async (c) => {
      await c.leader();
      const put = (id: number) => request({ id, client: 77, seq: 1, acked: 1, put: { key: Buffer.from('once'), value: Buffer.from('v') } });
      const [first] = await raw(c.endpoints[0]!, [put(1)]);
      const [again] = await raw(c.endpoints[1]!, [put(2)]);
      const [third] = await raw(c.endpoints[2]!, [put(3)]);
      assert.equal(first!.error, null);
      assert.equal(first!.put!.revision, 2);
      // The retries get the first answer, and no new revision was made.
      assert.equal(again!.put!.revision, 2);
      assert.equal(third!.put!.revision, 2);
      const cl = await c.client();
      assert.equal((await cl.get('once'))?.version, 1);
      assert.equal((await cl.prefix('', { countOnly: true })).revision, 2);
      // A new seq is a new write.
      const [next] = await raw(c.endpoints[0]!, [request({ id: 4, client: 77, seq: 2, acked: 2, put: { key: Buffer.from('once'), value: Buffer.from('w') } })]);
      assert.equal(next!.put!.revision, 3);
    });
  });

  it('bad requests get a coded error, change nothing, and the member serves on', async () => {
    await withCluster(1, async (c) => {
      await c.leader();
      const cl = await c.client();
      await cl.put('a', '1');
      const before = (await cl.prefix('', { countOnly: true })).revision;
      const big = Buffer.alloc(2 * 1024 * 1024, 1);
      const replies = await raw(c.endpoints[0]!, [
        Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]), // not a protobuf Request
        request({ id: 2, version: 99, status: {} }), // a version this member does not speak
        request({ id: 3 }), // no body
        request({ id: 4, put: { key: Buffer.from('big'), value: big } }), // over the request limit
        request({ id: 5, range: { key: Buffer.from('c'), rangeEnd: Buffer.from('a'), endKind: 1 } }), // end before start
        request({ id: 6, put: { key: Buffer.alloc(0), value: Buffer.from('x') } }), // empty key
        request({ id: 7, txn: { success: Array.from({ length: 129 }, (_, i) => ({ put: { key: Buffer.from(`k${i}`), value: Buffer.from('v') } })) } }),
        request({ id: 8, compact: { revision: 100 } }),
        request({ id: 9, get: { key: Buffer.from('a') } }), // and a good one still works
      ]);
      const codes = replies.map((r) => r.error?.code ?? 'ok');
      assert.deepEqual(codes, [
        ErrorCode.MALFORMED_REQUEST, ErrorCode.UNSUPPORTED_VERSION, ErrorCode.MALFORMED_REQUEST, ErrorCode.REQUEST_TOO_LARGE,
        ErrorCode.INVALID_RANGE, ErrorCode.EMPTY_KEY, ErrorCode.TOO_MANY_OPS, ErrorCode.FUTURE_REVISION, 'ok',
      ]);
      assert.deepEqual(replies.slice(1).map((r) => r.id), [2, 3, 4, 5, 6, 7, 8, 9], 'errors answer the request id');
      for (const r of replies) assert.ok(r.error?.message !== '', 'every error says why');
      assert.equal(replies[8]!.get!.kv!.value.toString(), '1');
      assert.equal((await cl.prefix('', { countOnly: true })).revision, before, 'nothing changed');
      // A frame whose framing is broken gets one error; several requests in one frame get one reply each.
      const [first, batch] = await rawFrames(c.endpoints[0]!, [
        Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]),
        joinFrame([request({ id: 20, get: { key: Buffer.from('a') } }), request({ id: 21, status: {} }), request({ id: 22 })]),
      ], [1, 3]);
      assert.equal(first!.length, 1);
      assert.equal(first![0]!.error?.code, ErrorCode.MALFORMED_REQUEST);
      assert.deepEqual(batch!.map((r) => [r.id, r.error?.code ?? 'ok']).sort(), [[20, 'ok'], [21, 'ok'], [22, ErrorCode.MALFORMED_REQUEST]]);
      assert.equal((await cl.prefix('', { countOnly: true })).revision, before, 'nothing changed');
    });
  });

  it('a leader cut off from the others is replaced; writes through the others go on and are applied once', async () => {
    await withCluster(3, async (c, net) => {
      const old = await c.leader();
      const others = [0, 1, 2].filter((i) => i !== old);
      const cl = await c.client({ endpoints: others.map((i) => c.endpoints[i]!) });
      await cl.put('before', '1');
      net.isolate(c.servers[old]!.member.id);
      // Writes issued while the old leader is cut off wait for (or retry on) the new one.
      const writes = Array.from({ length: 20 }, (_, i) => cl.put(`during/${i}`, `${i}`));
      const results = await Promise.all(writes);
      const revisions = new Set(results.map((r) => r.revision));
      assert.equal(revisions.size, 20, 'each write has its own revision');
      await until('a new leader among the others', 10_000, () => others.some((i) => c.servers[i]!.member.leaderId === c.servers[i]!.member.id));
      net.heal();
      // The old leader rejoins as a follower and catches up.
      const oldMember = c.servers[old]!.member;
      const target = c.servers[others[0]!]!.member.status().appliedIndex;
      await until('the old leader to catch up', 10_000, () => oldMember.status().appliedIndex >= target);
      const view = await c.client({ endpoints: [c.endpoints[old]!] });
      const r = await view.prefix('during/');
      assert.equal(r.count, 20);
      for (const kv of r.kvs) assert.equal(kv.version, 1, 'applied once');
    });
  });

  it('a member restarted from its data directory catches up on what it missed', async () => {
    await withCluster(3, async (c) => {
      await c.leader();
      const cl = await c.client();
      for (let i = 0; i < 10; i++) await cl.put(`a/${i}`, 'x');
      const victim = (await c.leader() + 1) % 3;
      await c.stop(victim);
      for (let i = 0; i < 10; i++) await cl.put(`b/${i}`, 'y');
      await cl.delete('a/0');
      const restarted = await c.start(victim);
      const want = (await cl.prefix('', { countOnly: true })).revision;
      await until('the restarted member to apply everything', 10_000, () => restarted.member.store.status().revision >= want);
      const local = await c.client({ endpoints: [c.endpoints[victim]!] });
      const r = await local.prefix('', { serializable: true });
      assert.equal(r.count, 19);
      assert.equal(r.revision, want);
      assert.equal(await local.get('a/0', { serializable: true }), undefined);
    });
  });

  it('with no quorum, writes and linearizable reads fail with a retryable code; serializable reads still answer', async () => {
    await withCluster(3, async (c) => {
      await c.leader();
      const cl = await c.client();
      await cl.put('k', 'v');
      await c.stop(1, { transfer: false });
      await c.stop(2, { transfer: false });
      const lone = await c.client({ endpoints: [c.endpoints[0]!], timeoutMs: 1500, attemptTimeoutMs: 1000 });
      await assert.rejects(lone.put('k', 'w'), (e) => isAxisError(e) && [ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT].includes(e.code as never));
      await assert.rejects(lone.get('k'), (e) => isAxisError(e) && [ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT].includes(e.code as never));
      assert.equal((await lone.get('k', { serializable: true }))?.value.toString(), 'v');
      // Its status says so: no leader (0, a number, not a missing field).
      await until('the lone member to know it has no leader', 10_000, async () => (await lone.status())[0]?.leader === 0);
      const [st] = await lone.status();
      assert.equal(st!.role === 'leader', false);
      for (const k of ['leader', 'raftTerm', 'commitIndex', 'appliedIndex', 'revision', 'dbSize'] as const) assert.equal(typeof st![k], 'number', k);
    });
  });
});
