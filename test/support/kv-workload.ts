/**
 * Clients running put/get/cas/delete on a few keys until told to stop, recording every operation
 * with its call and return times and its outcome (unknown when the client gave up on it: it may
 * still take effect). The history is what the linearizability checker reads.
 */
import { performance } from 'node:perf_hooks';
import type { Client } from '../../ts/client/index.js';
import { isAxisError } from '../../ts/errors/index.js';
import type { KvInput, KvOutput, Operation } from './linearizability.js';

export interface Workload {
  /** Every operation so far. */
  ops: Operation[];
  /** Stops the clients once their current operations end. */
  stop(): Promise<void>;
}

export function runKvWorkload(clients: Client[], rand: () => number, keys = 3): Workload {
  const ops: Operation[] = [];
  let stopped = false;
  let unique = 0;
  const runs = clients.map(async (cl, clientId) => {
    while (!stopped) {
      const key = `k${Math.floor(rand() * keys)}`;
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
        output = { unknown: true };
      }
      ops.push({ clientId, call, return: performance.now(), input, output });
    }
  });
  return {
    ops,
    async stop() {
      stopped = true;
      await Promise.all(runs);
    },
  };
}
