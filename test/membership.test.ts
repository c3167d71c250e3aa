/**
 * Membership and snapshots, in-process: members over an in-memory peer network (clients, and
 * snapshot pulls, over ZeroMQ on 127.0.0.1), with logs compacted every few dozen entries so that a
 * new or emptied member can only catch up from a snapshot of the store.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { type Client, connect } from '../ts/client/index.js';
import { ErrorCode, isAxisError } from '../ts/errors/index.js';
import { memberId, resolveConfig, serve } from '../ts/server/index.js';
import { restoreSnapshot } from '../ts/server/snapshot.js';
import { tempDirs, until } from './support/fixtures.js';
import { freePorts } from './support/ports.js';
import { GrowingCluster } from './support/growing-cluster.js';
import { curveKeys, generateKeyPair } from '../ts/security/index.js';

const dir = tempDirs('members');

/** Every key a member holds, read from it alone. */
async function keysAt(cl: Client): Promise<Map<string, string>> {
  const r = await cl.prefix('k', { serializable: true });
  return new Map(r.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
}

const clusters: GrowingCluster[] = [];
after(async () => {
  for (const c of clusters) await c.close();
});

describe('membership', { timeout: 120_000 }, () => {
  it('a learner joins from a snapshot, is promoted once caught up; a member that was never started cannot be', async () => {
    const c = await GrowingCluster.create(dir, 3, 2);
    clusters.push(c);
    const cl = await c.client();
    const want = new Map<string, string>();
    for (let i = 0; i < 150; i++) {
      await cl.put(`k${i}`, `v${i}`);
      want.set(`k${i}`, `v${i}`);
    }
    // The logs were compacted by policy (40 + 10 entries here): whatever the load, no member's log
    // holds more than that (plus what arrived since its last compaction).
    await c.converge();
    for (const x of c.running()) {
      const st = x.server!.member.store.raftLog().state();
      assert.ok(st.firstIndex > 100, `${x.name}'s log starts at ${st.firstIndex}`);
      assert.ok(st.lastIndex - st.firstIndex + 1 <= 40 + 10, `${x.name}'s log holds ${st.lastIndex - st.firstIndex + 1} entries`);
    }
    const m4 = c.nodes[3]!;
    const added = await cl.memberAdd({ name: m4.name, peerUrl: m4.peerUrl, clientUrl: m4.clientUrl, learner: true });
    assert.equal(added.clusterId, c.clusterId);
    assert.deepEqual(added.member, { id: memberId(m4.name), name: m4.name, peerUrl: m4.peerUrl, clientUrl: m4.clientUrl, learner: true });
    await assert.rejects(cl.memberAdd({ name: m4.name, peerUrl: 'tcp://127.0.0.1:1' }), (e) => isAxisError(e, ErrorCode.MEMBER_EXISTS));
    // Not started yet: not caught up, so not promoted.
    await assert.rejects(cl.memberPromote(memberId(m4.name)), (e) => isAxisError(e, ErrorCode.LEARNER_NOT_READY));
    const initial = c.nodes.slice(0, 4).map((x) => `${x.name}=${x.peerUrl}`).join(',');
    await c.start(3, initial, 'existing');
    // Writes go on while it catches up.
    for (let i = 150; i < 200; i++) {
      await cl.put(`k${i}`, `v${i}`);
      want.set(`k${i}`, `v${i}`);
    }
    await c.converge();
    const only4 = await c.client([m4.clientUrl]);
    assert.deepEqual(await keysAt(only4), want, 'the learner holds every key');
    await until('the learner to be promoted', 20_000, async () => (await cl.memberPromote(memberId(m4.name))).members.find((m) => m.id === memberId(m4.name) && !m.learner));
    const list = await cl.memberList();
    assert.deepEqual(list.members.map((m) => [m.name, m.learner]).sort(), [['m1', false], ['m2', false], ['m3', false], ['m4', false]]);
    // Every member's client URL is known to all: m4's was given when it was added, the initial
    // members publish their own.
    assert.equal(list.members.find((m) => m.name === 'm4')!.clientUrl, m4.clientUrl);
    await until('the initial members to publish their client URLs', 10_000, async () => {
      const ms = (await cl.memberList()).members;
      return ms.every((m) => m.clientUrl === c.nodes.find((x) => x.name === m.name)!.clientUrl) ? true : undefined;
    });
    // A promoted member votes: with the leader down, three of four voters remain, a majority.
    const leader = c.running().find((x) => x.server!.member.status().role === 'leader')!;
    await c.stop(c.nodes.indexOf(leader));
    await cl.put('k-after', 'x');
    want.set('k-after', 'x');
    await c.converge();
    assert.deepEqual(await keysAt(only4), want);
  });

  it('the leader removes a voter; removing the leader hands leadership over first; a removed member stops', async () => {
    const c = await GrowingCluster.create(dir, 3, 0);
    clusters.push(c);
    const cl = await c.client();
    for (let i = 0; i < 20; i++) await cl.put(`k${i}`, 'v');
    await c.converge();
    const leaderIdx = c.nodes.findIndex((x) => x.server!.member.status().role === 'leader');
    const follower = c.nodes[(leaderIdx + 1) % 3]!;
    const r = await cl.memberRemove(memberId(follower.name));
    assert.deepEqual(r.members.map((m) => m.name).sort(), c.nodes.filter((x) => x !== follower).map((x) => x.name).sort());
    await until('the removed member to stop', 10_000, async () => (follower.fatal && isAxisError(follower.fatal, ErrorCode.MEMBER_REMOVED) ? true : undefined));
    await assert.rejects(cl.memberRemove(memberId(follower.name)), (e) => isAxisError(e, ErrorCode.MEMBER_NOT_FOUND));
    // Now the leader itself: it hands over, and the new leader removes it.
    const leader = c.nodes[leaderIdx]!;
    const r2 = await cl.memberRemove(memberId(leader.name));
    assert.deepEqual(r2.members.map((m) => m.name), c.nodes.filter((x) => x !== follower && x !== leader).map((x) => x.name));
    await until('the removed leader to stop', 10_000, async () => (leader.fatal ? true : undefined));
    // One member left: it leads alone and takes writes.
    const last = c.nodes.find((x) => x !== follower && x !== leader)!;
    const only = await c.client([last.clientUrl]);
    await until('the last member to take writes', 10_000, async () => (await only.put('solo', '1')).revision);
    assert.equal((await only.get('solo'))?.value.toString(), '1');
  });

  it('a member whose data directory was lost is replaced, and catches up from a snapshot; move-leader', async () => {
    const c = await GrowingCluster.create(dir, 3, 1);
    clusters.push(c);
    const cl = await c.client();
    const want = new Map<string, string>();
    for (let i = 0; i < 120; i++) {
      await cl.put(`k${i % 40}`, `v${i}`);
      want.set(`k${i % 40}`, `v${i}`);
    }
    await c.converge();
    const leaderIdx = c.nodes.findIndex((x) => x.server?.member.status().role === 'leader');
    const lost = (leaderIdx + 1) % 3;
    await c.stop(lost);
    await fs.rm(c.nodes[lost]!.dataDir, { recursive: true, force: true });
    await cl.memberRemove(memberId(c.nodes[lost]!.name));
    const fresh = c.nodes[3]!;
    await cl.memberAdd({ name: fresh.name, peerUrl: fresh.peerUrl, clientUrl: fresh.clientUrl });
    const initial = c.nodes.filter((_, i) => i !== lost).map((x) => `${x.name}=${x.peerUrl}`).join(',');
    await c.start(3, initial, 'existing');
    for (let i = 120; i < 160; i++) {
      await cl.put(`k${i % 40}`, `v${i}`);
      want.set(`k${i % 40}`, `v${i}`);
    }
    await c.converge();
    const onlyFresh = await c.client([fresh.clientUrl]);
    assert.deepEqual(await keysAt(onlyFresh), want);
    // History came with the snapshot too (what was not compacted).
    assert.equal((await onlyFresh.get('k0', { serializable: true }))?.version, 4);
    // Leadership moves to the new member on request (a client that knows its address, to follow it).
    const all = await c.client();
    const moved = await all.moveLeader(memberId(fresh.name));
    assert.equal(moved, memberId(fresh.name));
    await until('everyone to follow the new leader', 10_000, async () => (c.running().every((x) => x.server!.member.status().leader === moved) ? true : undefined));
    await assert.rejects(all.moveLeader(12345), (e) => isAxisError(e, ErrorCode.MEMBER_NOT_FOUND));
    await all.put('after-move', '1');
  });

  it('with CURVE on the client ports, a new member still pulls its snapshot, and members compare hashes', async () => {
    const server = generateKeyPair();
    const client = generateKeyPair();
    const curve = { ...client, serverKey: server.publicKey };
    const c = await GrowingCluster.create(dir, 3, 1, { clientKeys: curveKeys({ ...server, authorized: [client.publicKey] }, 'member', 'test'), corruptCheckIntervalMs: 0 });
    clusters.push(c);
    const cl = await c.client(undefined, { curve });
    for (let i = 0; i < 100; i++) await cl.put(`k${i}`, 'v');
    const m4 = c.nodes[3]!;
    await cl.memberAdd({ name: m4.name, peerUrl: m4.peerUrl, clientUrl: m4.clientUrl, learner: true });
    await c.start(3, c.nodes.map((x) => `${x.name}=${x.peerUrl}`).join(','), 'existing');
    await c.converge();
    const only4 = await c.client([m4.clientUrl], { curve });
    assert.equal((await only4.prefix('k', { serializable: true })).count, 100);
    await until('every member to publish its client URL', 10_000, async () => ((await cl.memberList()).members.every((m) => m.clientUrl) ? true : undefined));
    const leader = c.running().find((x) => x.server!.member.leading)!;
    const report = await leader.server!.member.maintenance!.checkHashes();
    assert.equal(report.length, 3, 'every other member answered');
    assert.ok(report.every((r) => r.matches));
  });

  it('a snapshot saved from a live member seeds a new cluster; bad input changes nothing', async () => {
    const c = await GrowingCluster.create(dir, 3, 0);
    clusters.push(c);
    const cl = await c.client();
    for (let i = 0; i < 30; i++) await cl.put(`k${i}`, `v${i}`);
    const { id: lease } = await cl.leaseGrant(3600);
    await cl.put('leased', 'x', { lease });
    const one = await c.client([c.nodes[1]!.clientUrl]);
    // Read the copy in chunks as `axis snapshot save` does.
    const file = path.join(await dir(), 'snap.db');
    let r = await one.snapshotRead(0, 0);
    const parts: Buffer[] = [r.data];
    let got = r.data.length;
    while (got < r.size) {
      r = await one.snapshotRead(r.id, got);
      parts.push(r.data);
      got += r.data.length;
    }
    await fs.writeFile(file, Buffer.concat(parts));
    await assert.rejects(one.snapshotRead(r.id + 1000, 0), (e) => isAxisError(e, ErrorCode.SNAPSHOT_GONE));
    await assert.rejects(one.snapshotRead(r.id, r.size + 1), (e) => isAxisError(e, ErrorCode.INVALID_ARGUMENT));
    // A new one-member cluster from it.
    const [peer, client] = await freePorts(2);
    const d = await dir();
    const peerUrl = `tcp://127.0.0.1:${peer}`;
    await restoreSnapshot(file, d, [{ id: memberId('solo'), name: 'solo', peerUrl }]);
    await assert.rejects(restoreSnapshot(file, d, [{ id: memberId('solo'), name: 'solo', peerUrl }]), (e) => isAxisError(e, ErrorCode.INVALID_ARGUMENT));
    const s = await serve(resolveConfig({ name: 'solo', dataDir: d, peerListen: peerUrl, clientListen: `tcp://127.0.0.1:${client}`, tickMs: 20, durability: 'nosync' }));
    try {
      const sc = await connect({ endpoints: [`tcp://127.0.0.1:${client}`], timeoutMs: 10_000 });
      try {
        await until('the restored member to lead', 10_000, async () => (await sc.put('new', '1')).revision);
        const kvs = await sc.prefix('k');
        assert.equal(kvs.count, 30);
        assert.equal((await sc.get('k7'))?.value.toString(), 'v7');
        assert.deepEqual(await sc.leases(), [{ id: lease }]);
        assert.deepEqual((await sc.memberList()).members.map((m) => m.name), ['solo']);
      } finally {
        await sc.close();
      }
    } finally {
      await s.stop();
    }
  });
});
