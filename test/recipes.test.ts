/**
 * Locks and elections through a 3-member cluster (in one process, peers over the in-memory
 * network): mutual exclusion with strictly increasing fencing revisions while the leader goes away,
 * release by lease expiry when a holder dies, tryLock, and elections.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Election, Mutex, Session } from '../ts/client/index.js';
import { tempDirs } from './support/fixtures.js';
import { withMemoryCluster, type TestCluster } from './support/cluster.js';

const dir = tempDirs('recipes');

async function withCluster(fn: (c: TestCluster) => Promise<void>): Promise<void> {
  await withMemoryCluster(dir, (c) => fn(c));
}

describe('lock and election recipes', { timeout: 120_000 }, () => {
  it('many contenders, the leader stopped midway: one holder at a time, fencing revisions strictly increasing', async () => {
    await withCluster(async (c) => {
      const contenders = 5;
      const rounds = 6;
      const tenures: { who: number; revision: number; from: number; to: number }[] = [];
      let highest = 0; // a fenced resource: refuses tokens lower than one it has seen
      let holding = -1;
      let leaderStopped = false;
      const runs = Array.from({ length: contenders }, async (_, who) => {
        const cl = await c.client({ attemptTimeoutMs: 300 });
        for (let i = 0; i < rounds; i++) {
          const lock = await cl.lock('the-lock', { ttl: 5 });
          const from = performance.now();
          assert.equal(holding, -1, `contender ${who} acquired while ${holding} holds the lock`);
          holding = who;
          assert.ok(lock.revision > highest, `fencing token ${lock.revision} after ${highest}`);
          highest = lock.revision;
          await new Promise((r) => setTimeout(r, 5));
          if (!leaderStopped && tenures.length === 10) {
            leaderStopped = true;
            await c.stop(await c.leader());
          }
          holding = -1;
          tenures.push({ who, revision: lock.revision, from, to: performance.now() });
          await lock.unlock();
        }
      });
      await Promise.all(runs);
      assert.ok(leaderStopped);
      assert.equal(tenures.length, contenders * rounds);
      const byRevision = [...tenures].sort((a, b) => a.revision - b.revision);
      for (let i = 1; i < byRevision.length; i++) {
        assert.ok(byRevision[i]!.revision > byRevision[i - 1]!.revision, 'distinct fencing tokens');
        assert.ok(byRevision[i]!.from >= byRevision[i - 1]!.to, 'tenures do not overlap, and follow revision order');
      }
    });
  });

  it('a holder that dies (stops renewing) loses the lock when its lease expires; tryLock does not wait', async () => {
    await withCluster(async (c) => {
      const a = await c.client();
      const b = await c.client();
      const dying = await Session.create(a, { ttl: 1 });
      const held = await new Mutex(dying, 'job').lock();
      (dying as unknown as { keeper: { stop(): void } }).keeper.stop(); // the process "dies": no more renewals
      const sb = await Session.create(b, { ttl: 10 });
      assert.equal(await new Mutex(sb, 'job').tryLock(), undefined, 'tryLock gives up at once');
      const next = await new Mutex(sb, 'job').lock();
      assert.ok(next.revision > held.revision);
      await sb.close();
    });
  });

  it('elections: campaign order, the leader value, proclaim, observe, resign hands over', async () => {
    await withCluster(async (c) => {
      const cl = await c.client();
      const s1 = await Session.create(cl, { ttl: 10 });
      const s2 = await Session.create(cl, { ttl: 10 });
      const e1 = new Election(s1, 'svc');
      const e2 = new Election(s2, 'svc');
      const seen: (string | undefined)[] = [];
      const observing = (async () => {
        for await (const kv of Election.observe(cl, 'svc')) {
          seen.push(kv?.value.toString());
          if (seen.length === 4) return;
        }
      })();
      const deadline = Date.now() + 10_000;
      while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10)); // observing before anyone runs
      const won1 = await e1.campaign('one');
      let second = false;
      const campaign2 = e2.campaign('two').then((h) => {
        second = true;
        return h;
      });
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(second, false, 'the second waits while the first leads');
      assert.equal((await Election.leader(cl, 'svc'))?.value.toString(), 'one');
      await e1.proclaim('one again');
      assert.equal((await Election.leader(cl, 'svc'))?.value.toString(), 'one again');
      await e1.resign();
      const won2 = await campaign2;
      assert.ok(won2.revision > won1.revision);
      assert.equal((await Election.leader(cl, 'svc'))?.value.toString(), 'two');
      await Promise.race([observing, new Promise((_, rej) => setTimeout(() => rej(new Error(`observed only ${JSON.stringify(seen)}`)), 10_000))]);
      assert.deepEqual(seen, [undefined, 'one', 'one again', 'two']);
      await s1.close();
      await s2.close();
    });
  });
});
