/**
 * A follower that dies while it takes a snapshot catches up once it is back, without waiting for
 * the leader to give up on the snapshot (two minutes). Found by the robustness harness: a member
 * killed right after the install's rename came back with the snapshot's store, but the leader,
 * still waiting for that snapshot's outcome, sent it nothing until the ticket timed out; killed
 * before the rename (or while pulling), the same. Real `axis serve` processes (the harness's),
 * logs compacted every hundred entries.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../ts/client/index.js';
import { tempDirs, until } from './support/fixtures.js';
import { ProcessCluster } from './robustness/members.js';
import { PeerFaults } from './robustness/peer-faults.js';

const dir = tempDirs('snapcatchup');
const closing: (() => Promise<void>)[] = [];
after(async () => {
  for (const f of closing) await f();
});

describe('a follower killed while taking a snapshot', { timeout: 300_000 }, () => {
  for (const point of ['snapshot-install-after-rename', 'snapshot-install-before-rename']) {
    it(`catches up after a crash at ${point}`, async () => {
      const faults = new PeerFaults(Math.random);
      const cluster = new ProcessCluster(await dir(), faults, { tickMs: 100, electionTicks: 10, snapshotCount: 100, snapshotCatchupEntries: 20 }, () => {});
      closing.push(async () => {
        await cluster.close();
        await faults.close();
      });
      await cluster.start(3);
      const leader = await cluster.leader(30_000);
      assert.ok(leader, 'a leader');
      const follower = cluster.up().find((p) => p !== leader)!;
      const client = await connect({ endpoints: [leader.clientUrl], timeoutMs: 10_000 });
      closing.push(() => client.close());
      await cluster.kill(follower);
      // The others' logs move past it: it can only catch up from a snapshot.
      for (let i = 0; i < 400; i++) await client.put(`k${i % 7}`, `${i}`);
      assert.equal(await cluster.restart(follower, { AXIS_FAILPOINT: point }), true, 'the follower starts');
      assert.deepEqual(await follower.exited, { code: null, signal: 'SIGKILL' }, `it crashes at ${point}`);
      assert.equal(await cluster.restart(follower), true, 'the follower starts again');
      const last = await client.put('last', 'x');
      const own = await connect({ endpoints: [follower.clientUrl], timeoutMs: 10_000 });
      closing.push(() => own.close());
      // Within a minute (the leader's snapshot timeout is two).
      await until(`${follower.name} to catch up`, 60_000, async () => {
        const kv = await own.get('last', { serializable: true });
        return kv && kv.modRevision >= last.revision ? true : undefined;
      }, 200);
      assert.deepEqual((await own.hashKv(last.revision)).hash, (await client.hashKv(last.revision)).hash, 'the same key space');
    });
  }
});
