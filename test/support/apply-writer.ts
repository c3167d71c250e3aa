/**
 * Child process for test/apply.test.ts: applies numbered Raft entries to a store (durability 'sync')
 * until it is killed. Run as `node dist/test/support/apply-writer.js <dir> <seed>`.
 *
 * Prints {op:'ready', applied} once open, then {op:'ack', index} after each apply call's promise
 * resolved (never before). It always continues from the store's applied index. Entry i is
 * `entryFor(i)`: a put of e<i> (every 10th one fails on its own: ignoreValue on a missing key),
 * every 7th also carries a membership. Calls have 1..8 entries; sometimes two calls are in flight at
 * once (the second's entries follow the first's, issued in the same turn or the next). Ends itself after a deadline.
 */
import { encodeWrite, open, type ApplyEntry } from '../../ts/storage/index.js';
import { mulberry32 } from './prng.js';

const DEADLINE_MS = 15_000;

function emit(o: object): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

function die(err: unknown): never {
  process.stderr.write(`apply-writer: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
}

/** Entry i's request fails on its own (the entry is applied, its key never written). */
export const failsAt = (i: number): boolean => i % 10 === 0;
/** The membership entry i carries, if any. */
export const confAt = (i: number): string | undefined => (i % 7 === 0 ? JSON.stringify({ voters: [1, 2, 3], at: i }) : undefined);
export const CLIENTS = 3;

export function entryFor(i: number): ApplyEntry {
  const body = failsAt(i)
    ? encodeWrite({ put: { key: `e${i}`, value: '', options: { ignoreValue: true } } })
    : encodeWrite({ put: { key: `e${i}`, value: `v${i}` } });
  const conf = confAt(i);
  // Client i % 3 sends seq i; it holds the answers up to a few requests back.
  return {
    index: i,
    term: 1 + Math.floor(i / 50),
    ...(conf === undefined ? {} : { conf: Buffer.from(conf) }),
    request: { client: i % CLIENTS, seq: i, floor: Math.max(0, i - 3 * CLIENTS), body },
  };
}

const range = (from: number, n: number): ApplyEntry[] => Array.from({ length: n }, (_, j) => entryFor(from + j));

async function main(dir: string, seed: number): Promise<void> {
  const rnd = mulberry32(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const store = await open(dir, { durability: 'sync' });
  let next = store.applied().index + 1;
  emit({ op: 'ready', applied: next - 1 });
  const ack = (p: Promise<Buffer[]>, last: number): Promise<void> => p.then(() => emit({ op: 'ack', index: last }));
  for (;;) {
    const a = range(next, int(1, 8));
    next += a.length;
    const calls = [ack(store.apply(a, { horizon: 20 }), next - 1)];
    if (rnd() < 0.3) {
      // The same write batch, or (after a turn) one the writer may take into the same group commit.
      if (rnd() < 0.5) await new Promise(setImmediate);
      const b = range(next, int(1, 8));
      next += b.length;
      calls.push(ack(store.apply(b, { horizon: 20 }), next - 1));
    }
    await Promise.all(calls);
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  setTimeout(() => die(new Error(`deadline of ${DEADLINE_MS} ms passed`)), DEADLINE_MS).unref();
  const [dir, seed] = process.argv.slice(2);
  if (!dir) die(new Error('usage: apply-writer <dir> <seed>'));
  main(dir, Number(seed)).catch(die);
}
