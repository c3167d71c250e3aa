/**
 * Maintenance, in-process (see test/support/growing-cluster.ts): the storage quota's NOSPACE alarm
 * (writes that add data refused everywhere; reads, deletes, compactions and revokes go through;
 * disarmed once space is freed), automatic compaction by revision count, members' key-space hashes
 * (equal when they agree; a member whose store was changed behind Raft's back gets a CORRUPT
 * alarm), and what `status` reports.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../ts/client/index.js';
import { ErrorCode, isAxisError } from '../ts/errors/index.js';
import { encodeWrite, open } from '../ts/storage/index.js';
import { entryApplier } from './support/apply-one.js';
import { tempDirs, until } from './support/fixtures.js';
import { GrowingCluster } from './support/growing-cluster.js';

const dir = tempDirs('maint');
const clusters: GrowingCluster[] = [];
after(async () => {
  for (const c of clusters) await c.close();
});

describe('maintenance', { timeout: 120_000 }, () => {
  it('past the quota a NOSPACE alarm refuses writes that add data; freeing space and disarming lets them in again', async () => {
    const quota = 4 * 1024 * 1024;
    // A short Raft log: its entries hold the big values too until compacted away.
    const c = await GrowingCluster.create(dir, 3, 0, { quotaBackendBytes: quota, corruptCheckIntervalMs: 0, snapshotCount: 5, snapshotCatchupEntries: 2 });
    clusters.push(c);
    const cl = await c.client();
    const big = Buffer.alloc(200 * 1024, 7);
    const { id: lease } = await cl.leaseGrant(600);
    let refused: unknown;
    for (let i = 0; i < 200 && !refused; i++) {
      try {
        await cl.put(`big${i}`, big);
      } catch (err) {
        refused = err;
      }
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 1100)); // the quota is looked at every second
    }
    assert.ok(isAxisError(refused, ErrorCode.QUOTA_EXCEEDED), `writes were refused: ${String(refused)}`);
    const alarms = await cl.alarmList();
    assert.ok(alarms.length >= 1 && alarms.every((a) => a.type === 'NOSPACE'), JSON.stringify(alarms));
    // Every member refuses, whoever is asked; a txn that puts, and a new lease, too.
    for (const x of c.running()) {
      const one = await c.client([x.clientUrl]);
      await assert.rejects(one.put('small', '1'), (e) => isAxisError(e, ErrorCode.QUOTA_EXCEEDED));
    }
    await assert.rejects(cl.txn({ success: [{ put: { key: 'small', value: '1' } }] }), (e) => isAxisError(e, ErrorCode.QUOTA_EXCEEDED));
    await assert.rejects(cl.leaseGrant(60), (e) => isAxisError(e, ErrorCode.QUOTA_EXCEEDED));
    // Disarmed while a member is still over its quota, the alarm comes back.
    assert.deepEqual(await cl.alarmDisarm({ type: 'NOSPACE' }), []);
    await until('the alarm raised again', 10_000, async () => ((await cl.alarmList()).some((a) => a.type === 'NOSPACE') ? true : undefined));
    // Reads, deletes, revokes and compactions go through.
    assert.equal((await cl.get('big0'))?.value.length, big.length);
    const del = await cl.deleteRange('big', 'bih');
    assert.ok(del.deleted > 0);
    await cl.leaseRevoke(lease);
    await cl.compact(del.revision, { physical: true });
    const status = await cl.status();
    assert.ok(status.every((s) => s.alarms.some((a) => a.type === 'NOSPACE')), 'status shows the alarm');
    // Deletes are entries too: enough of them roll the big values out of every member's Raft log.
    for (let i = 0; i < 10; i++) await cl.delete(`nothing${i}`);
    await until('space to be freed on every member', 30_000, async () => {
      const sizes = (await cl.status()).map((s) => s.dbSizeInUse);
      if (sizes.every((n) => n < quota)) return true;
      throw new Error(`bytes in use: ${sizes.join(', ')}`);
    });
    // Once space is freed, disarming lets writes in again.
    assert.deepEqual(await cl.alarmDisarm(), []);
    await cl.put('small', '1');
    await cl.leaseGrant(60);
    assert.deepEqual(await cl.alarmList(), []);
  });

  it('the alarm is replicated state: while NOSPACE is active puts and grants fail alike, deletes and revokes apply; disarmed, puts apply', async () => {
    const s = await open(await dir(), { durability: 'nosync', lessor: false });
    try {
      const { apply } = entryApplier(s);
      await apply({ put: { key: 'a', value: '1' } });
      await apply({ leaseGrant: { id: 5, ttl: 60 } });
      await apply({ alarm: { activate: true, type: 'NOSPACE', member: 42 } });
      assert.deepEqual(s.alarms(), [{ type: 'NOSPACE', member: 42 }]);
      await assert.rejects(apply({ put: { key: 'b', value: '1' } }), (e) => isAxisError(e, ErrorCode.QUOTA_EXCEEDED));
      await assert.rejects(apply({ txn: { success: [{ put: { key: 'b', value: '1' } }] } }), (e) => isAxisError(e, ErrorCode.QUOTA_EXCEEDED));
      await assert.rejects(apply({ leaseGrant: { id: 6, ttl: 60 } }), (e) => isAxisError(e, ErrorCode.QUOTA_EXCEEDED));
      // A txn whose put does not run (its compare fails) is a read: it goes through.
      const t = await apply({ txn: { compare: [{ key: 'a', target: 'value', result: '=', value: 'x' }], success: [{ put: { key: 'b', value: '1' } }], failure: [{ range: { key: 'a' } }] } });
      assert.equal(t.succeeded, false);
      assert.equal((await apply({ delete: { key: 'a' } })).deleted, 1);
      await apply({ leaseRevoke: { id: 5 } });
      await apply({ compact: { revision: 2 } });
      assert.equal(s.get('b'), undefined);
      // It survives a restart of the store (it is in the store, with the data).
      const path = s.path;
      await s.close();
      const again = await open(path, { durability: 'nosync', lessor: false });
      try {
        const more = entryApplier(again);
        // Another client: this one's sequence numbers start over (client 1's are in the dedup table).
        await assert.rejects(more.apply({ put: { key: 'b', value: '1' } }, 2), (e) => isAxisError(e, ErrorCode.QUOTA_EXCEEDED));
        await more.apply({ alarm: { activate: false, type: 'NOSPACE', member: 42 } }, 2);
        assert.deepEqual(again.alarms(), []);
        await more.apply({ put: { key: 'b', value: '1' } }, 2);
        assert.equal(again.get('b')?.value.toString(), '1');
        assert.throws(() => encodeWrite({ alarm: { activate: true, type: 'NOPE' as 'NOSPACE', member: 1 } }), (e) => isAxisError(e, ErrorCode.INVALID_ARGUMENT));
      } finally {
        await again.close();
      }
    } finally {
      await s.close().catch(() => {});
    }
  });

  it('automatic compaction by revision count keeps the last revisions only', async () => {
    const c = await GrowingCluster.create(dir, 3, 0, { autoCompactionMode: 'revision', autoCompactionRetention: 20, corruptCheckIntervalMs: 0 });
    clusters.push(c);
    const cl = await c.client();
    for (let i = 0; i < 100; i++) await cl.put(`k${i % 5}`, `${i}`);
    const s = await until('a compaction', 10_000, async () => {
      const st = (await cl.status())[0]!;
      return st.compactRevision > 0 ? st : undefined;
    });
    assert.ok(s.revision - s.compactRevision >= 20, `kept at least 20 revisions (${s.revision} - ${s.compactRevision})`);
    assert.ok(s.revision - s.compactRevision <= 20 + 2 + 5, `kept not much more than 20 revisions (${s.revision} - ${s.compactRevision})`);
    await assert.rejects(cl.get('k0', { revision: 2 }), (e) => isAxisError(e, ErrorCode.COMPACTED));
  });

  it('members hash alike; one whose store changed behind Raft\'s back gets a CORRUPT alarm', async () => {
    const c = await GrowingCluster.create(dir, 3, 0, { corruptCheckIntervalMs: 0 });
    clusters.push(c);
    const cl = await c.client();
    for (let i = 0; i < 50; i++) await cl.put(`k${i % 7}`, `v${i}`);
    await cl.compact(20);
    await c.converge();
    const hashes = await Promise.all(c.running().map(async (x) => {
      const one = await connect({ endpoints: [x.clientUrl], timeoutMs: 10_000 });
      try {
        return await one.hashKv(50);
      } finally {
        await one.close();
      }
    }));
    assert.ok(hashes.every((h) => h.hash === hashes[0]!.hash && h.compactRevision === 20 && h.revision === 50), JSON.stringify(hashes));
    // A different floor, or a different revision, hashes differently.
    const one = await c.client([c.running()[0]!.clientUrl]);
    assert.notEqual((await one.hashKv(49)).hash, hashes[0]!.hash);
    await assert.rejects(one.hashKv(10), (e) => isAxisError(e, ErrorCode.COMPACTED));
    // Corrupt a follower: a write to its store alone.
    const leader = c.running().find((x) => x.server!.member.leading)!;
    const victim = c.running().find((x) => x !== leader)!;
    await victim.server!.member.store.put('k1', 'tampered');
    await cl.put('k2', 'after'); // the cluster moves on: the victim's revisions no longer line up
    await c.converge();
    // The leader reaches members at the client URLs they publish once they are up.
    await until('every member to publish its client URL', 10_000, async () => ((await cl.memberList()).members.every((m) => m.clientUrl) ? true : undefined));
    const report = await leader.server!.member.maintenance!.checkHashes();
    const bad = report.filter((r) => !r.matches).map((r) => r.member);
    assert.deepEqual(bad, [victim.server!.member.id]);
    await until('the CORRUPT alarm', 10_000, async () => ((await cl.alarmList()).some((a) => a.type === 'CORRUPT' && a.member === victim.server!.member.id) ? true : undefined));
    const st = await cl.status();
    assert.ok(st.every((s) => s.version.length > 0 && s.raftIndex >= s.appliedIndex), JSON.stringify(st.map((s) => [s.version, s.raftIndex, s.appliedIndex])));
  });
});
