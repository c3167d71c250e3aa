/**
 * The whole path (client retries, forwarding, dedup, ReadIndex, apply) is linearizable under
 * faults: three members in one process over the in-memory network, which loses messages at a
 * seeded rate while a seeded schedule isolates members, splits the cluster and heals it; four
 * clients run put/get/cas/delete on three keys through all members; the recorded history is
 * checked with the Porcupine-style checker. AXIS_LIN_SEED=n runs one seed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { isAxisError } from '../ts/errors/index.js';
import { MemoryNetwork } from '../ts/transport/index.js';
import { mulberry32, tempDirs } from './support/fixtures.js';
import { startCluster } from './support/cluster.js';
import { checkHistory, describeHistory, type KvInput, type KvOutput, type Operation } from './support/linearizability.js';

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
      const ops: Operation[] = [];
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
        let unique = 0;
        const runs = clients.map(async (cl, clientId) => {
          while (!stop) {
            const key = `k${Math.floor(rand() * 3)}`;
            const r = rand();
            const input: KvInput =
              r < 0.35 ? { op: 'get', key }
                : r < 0.65 ? { op: 'put', key, value: `v${++unique}` }
                  : r < 0.9 ? { op: 'cas', key, expect: rand() < 0.3 ? null : `v${Math.max(1, unique - Math.floor(rand() * 4))}`, value: `v${++unique}` }
                    : { op: 'delete', key };
            const call = performance.now();
            let output: KvOutput;
            try {
              if (input.op === 'get') {
                const kv = await cl.get(key);
                output = { value: kv ? kv.value.toString() : null };
              } else if (input.op === 'put') {
                await cl.put(key, input.value);
                output = { ok: true };
              } else if (input.op === 'delete') {
                output = { deleted: (await cl.delete(key)).deleted > 0 };
              } else {
                const compare = input.expect === null
                  ? { key, target: 'version' as const, result: '=' as const, value: 0 }
                  : { key, target: 'value' as const, result: '=' as const, value: input.expect };
                output = { succeeded: (await cl.txn({ compare: [compare], success: [{ put: { key, value: input.value } }] })).succeeded };
              }
            } catch (err) {
              if (!isAxisError(err)) throw err;
              output = { unknown: true }; // it may still take effect later
            }
            ops.push({ clientId, call, return: performance.now(), input, output });
          }
        });
        await new Promise((r) => setTimeout(r, RUN_MS));
        stop = true;
        await Promise.all([...runs, faults]);
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
