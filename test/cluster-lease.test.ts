/**
 * Leases through the cluster: the leader alone decides expiry (from its clock, through Raft as a
 * revoke); a kept-alive lease survives leader changes; a long lease's remaining TTL is checkpointed
 * so a new leader does not reset it; every member answers time-to-live from its own count.
 * Members tick every 20 ms with 10-tick elections (a 200 ms election timeout, so a 1 s minimum TTL).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isAxisError } from '../ts/errors/index.js';
import { tempDirs } from './support/fixtures.js';
import { startCluster, withMemoryCluster, type TestCluster } from './support/cluster.js';

const dir = tempDirs('clease');

async function withCluster(fn: (c: TestCluster) => Promise<void>, options: { leaseCheckpointIntervalMs?: number } = {}): Promise<void> {
  await withMemoryCluster(dir, (c) => fn(c), options);
}

async function until(what: string, ms: number, f: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('leases through the cluster', { timeout: 120_000 }, () => {
  it('grant, attach, time-to-live (a follower answers too), list, revoke in one revision', async () => {
    await withCluster(async (c) => {
      const leader = await c.leader();
      const follower = (leader + 1) % 3;
      // Only a follower: writes are forwarded, and it counts the lease down itself.
      const cl = await c.client({ endpoints: [c.endpoints[follower]!] });
      const { id, ttl } = await cl.leaseGrant(60);
      assert.equal(ttl, 60);
      await cl.put('a', '1', { lease: id });
      await cl.put('b', '1', { lease: id });
      await assert.rejects(cl.put('c', '1', { lease: id + 1 }), (e) => isAxisError(e, ErrorCode.LEASE_NOT_FOUND));
      const t = await cl.leaseTimeToLive(id, { keys: true });
      assert.equal(t.ttl, 60);
      assert.ok(t.remaining > 50 && t.remaining <= 60, `remaining ${t.remaining}`);
      assert.deepEqual(t.keys!.map((k) => k.toString()), ['a', 'b']);
      assert.deepEqual(await cl.leases(), [{ id }]);
      const before = (await cl.prefix('', { countOnly: true })).revision;
      const r = await cl.leaseRevoke(id);
      assert.equal(r.deleted, 2);
      assert.equal(r.revision, before + 1, 'both keys go in one revision');
      assert.equal((await cl.prefix('')).count, 0);
      await assert.rejects(cl.leaseTimeToLive(id), (e) => isAxisError(e, ErrorCode.LEASE_NOT_FOUND));
    });
  });

  it('a 1-hour lease keeps counting down under a leader change every second', async () => {
    await withCluster(
      async (c) => {
        const cl = await c.client({ attemptTimeoutMs: 300 });
        const granted = Date.now();
        const { id } = await cl.leaseGrant(3600);
        for (let i = 0; i < 5; i++) {
          await new Promise((r) => setTimeout(r, 1000));
          const leader = await c.leader();
          await c.stop(leader, { transfer: i % 2 === 0 }); // handed over, or just gone
          await c.leader();
          await c.start(leader);
        }
        const elapsed = Math.floor((Date.now() - granted) / 1000);
        const t = await cl.leaseTimeToLive(id);
        // Each new leader adds at most an election timeout (0.2 s) to what was checkpointed.
        assert.ok(t.remaining <= 3600 - elapsed + 2, `remaining ${t.remaining} after ${elapsed} s: it kept counting down`);
        assert.ok(t.remaining >= 3600 - elapsed - 5, `remaining ${t.remaining} after ${elapsed} s`);
      },
      { leaseCheckpointIntervalMs: 200 },
    );
  });

  it('a TTL below 1.5 election timeouts is raised to it', async () => {
    const c = await startCluster(1, dir, { tickMs: 100, electionTicks: 10 }); // 1 s elections: 2 s minimum
    try {
      await c.leader();
      const cl = await c.client();
      assert.equal((await cl.leaseGrant(1)).ttl, 2);
      assert.equal((await cl.leaseGrant(5)).ttl, 5);
    } finally {
      await c.close();
    }
  });

  it('a lease nobody renews expires (its keys deleted) within TTL + an election timeout or so of being due', async () => {
    await withCluster(async (c) => {
      const cl = await c.client();
      const granted = Date.now();
      const { id } = await cl.leaseGrant(1);
      await cl.put('eph', 'x', { lease: id });
      assert.ok(await cl.get('eph'), 'there at first');
      await until('the lease to expire', 10_000, async () => (await cl.get('eph')) === undefined);
      const took = Date.now() - granted;
      assert.ok(took >= 1000, `not before its TTL (${took} ms)`);
      await assert.rejects(cl.leaseKeepAlive(id), (e) => isAxisError(e, ErrorCode.LEASE_NOT_FOUND));
    });
  });

  it('a kept-alive lease outlives its TTL and a leader change; stopped, it expires', async () => {
    await withCluster(async (c) => {
      // Renewals every TTL/3; a renewal sent to the member going away is retried elsewhere after 300 ms.
      const cl = await c.client({ attemptTimeoutMs: 300 });
      const { id } = await cl.leaseGrant(2);
      await cl.put('held', 'x', { lease: id });
      let lost: Error | undefined;
      const ka = cl.keepAlive(id, { onLost: (e) => (lost = e) });
      await new Promise((r) => setTimeout(r, 2500));
      await c.stop(await c.leader()); // hands leadership over
      await c.leader();
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(lost, undefined);
      assert.ok(await cl.get('held'), 'kept alive across more than two TTLs and a leader change');
      ka.stop();
      await until('the lease to expire once no longer renewed', 10_000, async () => (await cl.get('held')) === undefined);
    });
  });

  it('a long lease keeps counting down across a leader change (checkpointed), not reset to its full TTL', async () => {
    await withCluster(
      async (c) => {
        const cl = await c.client();
        const { id } = await cl.leaseGrant(30);
        await new Promise((r) => setTimeout(r, 2500)); // several checkpoints
        await c.stop(await c.leader(), { transfer: false });
        await c.leader();
        const t = await cl.leaseTimeToLive(id);
        assert.ok(t.remaining < 30, `remaining ${t.remaining} of 30: not reset by the new leader`);
        assert.ok(t.remaining >= 20, `remaining ${t.remaining}`);
      },
      { leaseCheckpointIntervalMs: 200 },
    );
  });
});
