/** The linearizability checker on a worker thread, so a long search never stalls the harness's clients. */
import { parentPort } from 'node:worker_threads';
import { type Operation, checkHistory, describeHistory } from '../support/linearizability.js';

parentPort!.on('message', (m: { id: number; ops: Operation[]; timeoutMs: number }) => {
  const result = checkHistory(m.ops, { timeoutMs: m.timeoutMs });
  parentPort!.postMessage({ id: m.id, result, witness: result.ok === false ? describeHistory(result.witness) : undefined });
});
