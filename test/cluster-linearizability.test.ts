/**
 * The whole path (client retries, forwarding, dedup, ReadIndex, apply) is linearizable under
 * faults: three members in one process over the in-memory network, which loses messages at a
 * seeded rate while a seeded schedule isolates members, splits the cluster and heals it; four
 * clients run put/get/cas/delete on three keys through all members; the recorded history is
 * checked with the Porcupine-style checker. AXIS_LIN_SEED=n runs one seed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryNetwork } from '../ts/transport/index.js';
import { mulberry32, tempDirs } from './support/fixtures.js';
import { startCluster } from './support/cluster.js';
import { checkHistory, describeHistory, type Operation } from './support/linearizability.js';
import { runKvWorkload } from './support/kv-workload.js';

const dir = tempDirs('lin');
const one = process.env.AXIS_LIN_SEED;
const seeds = one !== undefined ? [Number(one)] : [11, 12];
const RUN_MS = 5000;

describe('cluster histories are linearizable under message loss, isolation and partitions', { timeout: 120_000 }, () => {
  for (const seed of seeds) {
    it(`seed ${seed}`, async () => {
      const rand = mulberry32(seed);
      const net = new MemoryNetwork();
      net.drop(0.05, seed);
      const c = await startCluster(3, dir, { transport: (o) => net.transport(o) });
      const ids = c.servers.map((s) => s!.member.id);
      let ops: Operation[] = [];
      let stop = false;
      try {
        await c.leader();
        const faults = (async () => {
          while (!stop) {
            await new Promise((r) => setTimeout(r, 200 + Math.floor(rand() * 400)));
            const f = rand();
            net.heal();
            net.drop(0.05, Math.floor(rand() * 1e9));
            if (f < 0.3) net.isolate(ids[Math.floor(rand() * 3)]!);
            else if (f < 0.5) {
              const lone = Math.floor(rand() * 3);
              net.partition(ids[lone]!, ids.filter((_, i) => i !== lone));
            }
          }
          net.heal();
        })();
        const clients = await Promise.all([0, 1, 2, 3].map(() => c.client({ timeoutMs: 2000, attemptTimeoutMs: 400 })));
        const work = runKvWorkload(clients, rand);
        ops = work.ops;
        await new Promise((r) => setTimeout(r, RUN_MS));
        stop = true;
        await Promise.all([work.stop(), faults]);
      } finally {
        stop = true;
        net.heal();
        await c.close();
      }
      const known = ops.filter((o) => !('unknown' in o.output)).length;
      assert.ok(known >= 50, `enough operations completed (${known} of ${ops.length})`);
      if (process.env.AXIS_LIN_VERBOSE) process.stderr.write(`seed ${seed}: ${ops.length} operations, ${known} with a known outcome, ${ops.filter((o) => o.input.op === "get" && !("unknown" in o.output)).length} reads\n`);
      const result = checkHistory(ops, { timeoutMs: 30_000 });
      if (result.ok === false) assert.fail(`not linearizable on ${result.key}: ${result.reason}\n${describeHistory(result.witness)}`);
      assert.equal(result.ok, true, `the check finished (${JSON.stringify(result)}); ${known} of ${ops.length} operations known`);
    });
  }
});
