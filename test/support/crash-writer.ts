/**
 * A child-process script for the tests that need a second process (crash, durability and
 * concurrency tests). Run as `node dist/test/support/crash-writer.js <mode> ...`:
 *
 *   write <dir> <seed> <cycle> [sync|nosync]
 *       Opens the store, prints {op:'ready'}, then writes until it is killed: single puts awaited
 *       one by one, bursts of concurrent puts/txns/counter bumps, 3-key txns, deletes, and now and
 *       then a compaction of an old revision. Each write's acknowledgement is printed as one JSON
 *       line on stdout once its promise has resolved (never before). Key usage, so the parent can
 *       check what survived from acknowledgements alone:
 *         s/<cycle>/<n>, b/<cycle>/<n>   written once (single puts / burst puts)
 *         d/<cycle>/<n>                  written once, later maybe deleted once
 *         t/<cycle>/<n>/{a,b,c}          written once, all three by one txn, same value
 *         c/<k>                          counters: values only ever increase (zero-padded)
 *   hold <dir>
 *       Opens the store, takes a snapshot, keeps writing slowly; prints {op:'ready'} once open.
 *   try-open <dir>
 *       Tries to open the store, prints {op:'open', ok, code?}, closes it, exits.
 *   snapshots <dir> <drop|keep> <maxSnapshots> <count>
 *       drop: takes <count> snapshots one at a time, drops each without release(), and calls gc()
 *       (run node with --expose-gc) and yields to the event loop now and then; prints {ok, taken}.
 *       keep: keeps every snapshot until snapshot() fails; prints {taken, code} and then checks the
 *       store still works (reads, a write, a snapshot after releasing one).
 *
 * Every mode ends on its own after a deadline, so a forgotten child cannot linger.
 */
import { open, type Snapshot, type Store } from '../../ts/index.js';
import { isAxisError } from '../../ts/errors/index.js';
import { mulberry32 as prng } from './fixtures.js';

const DEADLINE_MS = 30_000;

function emit(o: object): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

function die(err: unknown): never {
  process.stderr.write(`crash-writer: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
}


const COUNTERS = 4;

/** A counter value: compares as a string in the order it was issued, across cycles. */
function counterValue(cycle: number, seq: number): string {
  return `${String(cycle).padStart(5, '0')}:${String(seq).padStart(9, '0')}`;
}

async function writeMode(dir: string, seed: number, cycle: number, durability: 'sync' | 'nosync'): Promise<void> {
  const rnd = prng(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const store = await open(dir, { durability });
  const st = store.status();
  emit({ op: 'ready', revision: st.revision, compactRevision: st.compactRevision });
  let floor = st.compactRevision;
  let n = 0;
  let seq = 0;
  const deletable: string[] = [];
  const pad = (): string => 'x'.repeat(int(0, 64));

  const putOnce = async (ns: 's' | 'b' | 'd'): Promise<void> => {
    const key = `${ns}/${cycle}/${n++}`;
    const value = `${key}=${pad()}`;
    const r = await store.put(key, value);
    emit({ op: 'put', key, value, revision: r.revision });
    if (ns === 'd') deletable.push(key);
  };
  const txn = async (): Promise<void> => {
    const prefix = `t/${cycle}/${n++}/`;
    const value = `${prefix}=${pad()}`;
    const r = await store.txn({
      compare: [{ key: prefix + 'a', target: 'version', result: '=', value: 0 }],
      success: ['a', 'b', 'c'].map((s) => ({ put: { key: prefix + s, value } })),
      failure: [],
    });
    if (!r.succeeded) die(new Error(`txn on fresh keys ${prefix} did not succeed`));
    emit({ op: 'txn', key: prefix, value, revision: r.revision });
  };
  const bump = async (): Promise<void> => {
    const key = `c/${int(0, COUNTERS - 1)}`;
    const value = counterValue(cycle, seq++);
    const r = await store.put(key, value);
    emit({ op: 'counter', key, value, revision: r.revision });
  };
  const del = async (): Promise<void> => {
    const i = int(0, deletable.length - 1);
    const key = deletable[i]!;
    deletable.splice(i, 1);
    const r = await store.delete(key);
    if (r.deleted !== 1) die(new Error(`delete of ${key} deleted ${r.deleted}`));
    emit({ op: 'delete', key, revision: r.revision });
  };
  const compact = async (): Promise<void> => {
    const head = store.status().revision;
    if (head - 20 <= floor) return;
    // An old revision, in the older quarter between the floor and 20 behind the head: the floor
    // trails well behind, so the parent has plenty of history to check.
    const target = floor + 1 + Math.floor((rnd() * (head - 20 - floor)) / 4);
    const physical = rnd() < 0.25;
    await store.compact(target, { physical });
    floor = target;
    emit({ op: 'compact', revision: target, physical });
  };

  for (;;) {
    const p = rnd();
    if (p < 0.3) await putOnce('s');
    else if (p < 0.45) {
      const jobs: Promise<void>[] = [];
      for (let i = int(3, 12); i > 0; i--) {
        const q = rnd();
        jobs.push(q < 0.6 ? putOnce('b') : q < 0.8 ? txn() : bump());
      }
      await Promise.all(jobs);
    } else if (p < 0.6) await txn();
    else if (p < 0.7) await putOnce('d');
    else if (p < 0.8) {
      if (deletable.length > 0) await del();
    } else if (p < 0.97) await bump();
    else await compact();
  }
}

async function holdMode(dir: string): Promise<void> {
  const store = await open(dir);
  await store.put('hold/first', 'x');
  const snap = store.snapshot();
  emit({ op: 'ready', revision: snap.revision });
  for (let i = 0; ; i++) {
    await store.put(`hold/${i % 10}`, String(i));
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function tryOpenMode(dir: string): Promise<void> {
  let store: Store;
  try {
    store = await open(dir);
  } catch (err) {
    emit({ op: 'open', ok: false, code: isAxisError(err) ? err.code : String(err) });
    return;
  }
  const latest = store.get('k');
  emit({ op: 'open', ok: true, revision: store.status().revision, value: latest?.value.toString() ?? null });
  await store.close();
}

async function snapshotsMode(dir: string, mode: string, maxSnapshots: number, count: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') die(new Error('run with --expose-gc'));
  const store = await open(dir, { maxSnapshots });
  await store.put('k', 'v');
  // Read once first, so the store's own read view holds its reader slot.
  store.get('k');
  if (mode === 'drop') {
    let taken = 0;
    try {
      for (let i = 0; i < count; i++) {
        const snap = store.snapshot();
        if ((await snap.get('k'))?.value.toString() !== 'v') die(new Error('snapshot read the wrong value'));
        taken++;
        if (i % 4 === 3) {
          // Native finalizers run after gc(), on a later turn of the event loop.
          gc();
          await new Promise((r) => setImmediate(r));
          await new Promise((r) => setImmediate(r));
        }
      }
      emit({ ok: true, taken });
    } catch (err) {
      emit({ ok: false, taken, code: isAxisError(err) ? err.code : String(err) });
    }
  } else {
    const held: Snapshot[] = [];
    let code: string | null = null;
    for (let i = 0; i < count; i++) {
      try {
        held.push(store.snapshot());
      } catch (err) {
        code = isAxisError(err) ? err.code : String(err);
        break;
      }
    }
    const taken = held.length;
    // Still healthy: every held snapshot reads, the store reads and writes, and a released slot is reusable.
    let allRead = true;
    for (const s of held) if ((await s.get('k'))?.value.toString() !== 'v') allRead = false;
    const put = await store.put('k', 'v2');
    const storeRead = store.get('k')?.value.toString() ?? null;
    held.pop()?.release();
    const again = store.snapshot();
    const againRead = (await again.get('k'))?.value.toString() ?? null;
    again.release();
    for (const s of held) s.release();
    emit({ taken, code, allRead, putRevision: put.revision, storeRead, againRead });
  }
  await store.close();
}

const [mode, dir, ...rest] = process.argv.slice(2);
setTimeout(() => die(new Error(`deadline of ${DEADLINE_MS} ms passed`)), DEADLINE_MS).unref();
if (!dir) die(new Error('usage: crash-writer <mode> <dir> ...'));
const run =
  mode === 'write'
    ? writeMode(dir, Number(rest[0]), Number(rest[1]), rest[2] === 'nosync' ? 'nosync' : 'sync')
    : mode === 'hold'
      ? holdMode(dir)
      : mode === 'try-open'
        ? tryOpenMode(dir)
        : mode === 'snapshots'
          ? snapshotsMode(dir, rest[0] ?? 'drop', Number(rest[1]), Number(rest[2]))
          : Promise.reject(new Error(`unknown mode ${String(mode)}`));
run.catch(die);
