/**
 * Crash safety: a child process writes to the store (durability 'sync') and reports each write
 * once its promise has resolved; the parent kills it with SIGKILL at a random moment, reopens the
 * store in-process and checks that every acknowledged write survived, that txns are all-or-nothing,
 * that the change log agrees with reads at every revision, and that compaction resumes. Then the
 * next cycle restarts the child on the same directory.
 *
 * The seed is random unless AXIS_CRASH_SEED is set; it is printed, and part of every failure message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, type Event, type KeyValue, type Store } from '../ts/index.js';
import { ErrorCode, isAxisError } from '../ts/errors/index.js';
import { mulberry32 as prng, tempDirs } from './support/fixtures.js';
import { runWriter as runChild, type Line } from './support/child.js';

const tempDir = tempDirs('crash');



const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// what the parent knows: acknowledged writes only

interface Acked {
  value: string;
  revision: number;
}

class Acks {
  /** s/, b/, d/ keys: each put once. */
  readonly once = new Map<string, Acked>();
  /** d/ keys whose delete was acknowledged, at that revision. */
  readonly deleted = new Map<string, number>();
  /** t/<cycle>/<n>/ → the value all three keys got. */
  readonly txns = new Map<string, Acked>();
  /** c/<k> → the acknowledged put with the highest revision. */
  readonly counters = new Map<string, Acked>();
  floor = 0;
  maxRevision = 0;
  count = 0;

  record(line: Line, where: string): void {
    const op = line.op;
    if (op === 'ready') return;
    assert.notEqual(op, 'garbage', `${where}: unreadable line from the child: ${JSON.stringify(line)}`);
    const revision = line.revision as number;
    assert.ok(Number.isSafeInteger(revision) && revision > 0, `${where}: bad revision in ${JSON.stringify(line)}`);
    this.count++;
    if (op === 'compact') {
      assert.ok(revision > this.floor, `${where}: compactions are acknowledged in order`);
      this.floor = revision;
      return;
    }
    this.maxRevision = Math.max(this.maxRevision, revision);
    const key = line.key as string;
    const value = line.value as string;
    if (op === 'put') {
      assert.ok(!this.once.has(key), `${where}: ${key} acknowledged twice`);
      this.once.set(key, { value, revision });
    } else if (op === 'delete') {
      assert.ok(this.once.has(key), `${where}: delete of ${key} acknowledged before its put`);
      this.deleted.set(key, revision);
    } else if (op === 'txn') {
      this.txns.set(key, { value, revision });
    } else if (op === 'counter') {
      const prev = this.counters.get(key);
      if (prev) assert.ok(value > prev.value && revision > prev.revision, `${where}: counter ${key} acknowledged out of order`);
      if (!prev || revision > prev.revision) this.counters.set(key, { value, revision });
    } else {
      assert.fail(`${where}: unknown acknowledgement ${JSON.stringify(line)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// verification

const str = (b: Buffer): string => b.toString('latin1');

function kvLine(kv: KeyValue): string {
  return `${str(kv.key)}|${str(kv.value)}|${kv.createRevision}|${kv.modRevision}|${kv.version}|${kv.lease}`;
}

function sameKv(actual: KeyValue | undefined, expected: KeyValue | undefined, message: string): void {
  assert.equal(actual === undefined ? 'absent' : kvLine(actual), expected === undefined ? 'absent' : kvLine(expected), message);
}

function expectCompacted(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => isAxisError(err, ErrorCode.COMPACTED), message);
}

/** Compares the whole store at `revision` with `model`, and checks txn groups are whole there. */
function compareState(store: Store, revision: number, model: Map<string, KeyValue>, where: string): void {
  const r = store.prefix('', { revision });
  assert.equal(r.more, false);
  assert.equal(r.count, model.size, `${where}: key count at revision ${revision}`);
  const want = [...model.values()].sort((a, b) => Buffer.compare(a.key, b.key)).map(kvLine);
  const got = r.kvs.map(kvLine);
  if (got.join('\n') !== want.join('\n')) {
    let i = 0;
    while (i < got.length && got[i] === want[i]) i++;
    assert.fail(`${where}: state at revision ${revision} differs from the change log replay at entry ${i}: got ${got[i]}, want ${want[i]}`);
  }
  checkTxnGroups(r.kvs, `${where}: revision ${revision}`);
}

/** Every t/<cycle>/<n>/ group has exactly a, b, c, with one value and one mod revision. */
function checkTxnGroups(kvs: KeyValue[], where: string): void {
  const groups = new Map<string, KeyValue[]>();
  for (const kv of kvs) {
    const k = str(kv.key);
    if (!k.startsWith('t/')) continue;
    const prefix = k.slice(0, k.lastIndexOf('/') + 1);
    let g = groups.get(prefix);
    if (!g) groups.set(prefix, (g = []));
    g.push(kv);
  }
  for (const [prefix, g] of groups) {
    assert.deepEqual(
      g.map((kv) => str(kv.key)),
      ['a', 'b', 'c'].map((s) => prefix + s),
      `${where}: txn ${prefix} is not whole`,
    );
    assert.ok(
      g.every((kv) => kv.value.equals(g[0]!.value) && kv.modRevision === g[0]!.modRevision),
      `${where}: txn ${prefix} keys disagree`,
    );
  }
}

/**
 * Replays the change log from the compaction floor over the state at the floor, checking each
 * event against get() at its revision, that revisions are consecutive, that each txn's revision
 * holds its three puts, and the whole state at some sampled revisions and at the head.
 */
function checkChangeLog(store: Store, head: number, floor: number, rnd: () => number, where: string): number {
  const from = Math.max(floor, 1);
  const ch = store.changes(from);
  assert.equal(ch.more, false, `${where}: changes(${from}) without a limit returns everything`);
  assert.equal(ch.revision, head, `${where}: changes answered at the head`);
  const byRev = new Map<number, Event[]>();
  let last = 0;
  for (const ev of ch.events) {
    const rev = ev.kv.modRevision;
    assert.ok(rev >= last, `${where}: change log out of order at revision ${rev}`);
    last = rev;
    let list = byRev.get(rev);
    if (!list) byRev.set(rev, (list = []));
    list.push(ev);
  }
  // Every revision after the empty store's revision 1 is made by a write that changed something.
  const first = Math.max(from, 2);
  const revs = [...byRev.keys()];
  const expected = head >= first ? Array.from({ length: head - first + 1 }, (_, i) => first + i) : [];
  if (revs.length !== expected.length || revs.some((r, i) => r !== expected[i])) {
    const missing = expected.filter((r) => !byRev.has(r)).slice(0, 10);
    assert.fail(`${where}: change log from ${from} to ${head} is not consecutive (missing ${missing.join(', ')}; got ${revs.length} of ${expected.length})`);
  }
  if (head >= first) assert.equal(ch.next, head + 1, `${where}: changes next`);

  // The state at the floor, then each revision on top.
  const model = new Map<string, KeyValue>();
  for (const kv of store.prefix('', { revision: from }).kvs) model.set(str(kv.key), kv);
  checkTxnGroups([...model.values()], `${where}: floor ${from}`);
  const samples = new Set<number>();
  for (let i = 0; i < 4 && head > from; i++) samples.add(from + 1 + Math.floor(rnd() * (head - from)));
  samples.add(head);
  for (const [rev, events] of byRev) {
    const txnPuts = new Map<string, Event[]>();
    for (const ev of events) {
      const key = str(ev.kv.key);
      const at = `${where}: revision ${rev} ${ev.type} ${key}`;
      if (key.startsWith('t/')) {
        const prefix = key.slice(0, key.lastIndexOf('/') + 1);
        let g = txnPuts.get(prefix);
        if (!g) txnPuts.set(prefix, (g = []));
        g.push(ev);
      }
      const prev = model.get(key);
      if (rev === from) {
        // Already in the state read at the floor.
        if (ev.type === 'put') sameKv(prev, ev.kv, at);
        else assert.equal(prev, undefined, at);
        continue;
      }
      if (ev.type === 'put') {
        assert.equal(ev.kv.createRevision, prev ? prev.createRevision : rev, `${at}: createRevision`);
        assert.equal(ev.kv.version, prev ? prev.version + 1 : 1, `${at}: version`);
        model.set(key, ev.kv);
        sameKv(store.get(key, { revision: rev }), ev.kv, `${at}: get at its revision`);
      } else {
        assert.ok(prev, `${at}: deletes only live keys`);
        model.delete(key);
        sameKv(store.get(key, { revision: rev }), undefined, `${at}: get at its revision`);
      }
      sameKv(store.get(key, { revision: rev - 1 }), prev, `${at}: get just before`);
    }
    for (const [prefix, g] of txnPuts) {
      assert.deepEqual(
        g.map((e) => `${e.type} ${str(e.kv.key)} ${str(e.kv.value)}`),
        ['a', 'b', 'c'].map((s) => `put ${prefix}${s} ${str(g[0]!.kv.value)}`),
        `${where}: revision ${rev} holds txn ${prefix} whole`,
      );
    }
    if (samples.has(rev)) compareState(store, rev, model, where);
  }
  if (head < first) compareState(store, head, model, where);
  return ch.events.length;
}

async function waitCompactionIdle(store: Store, where: string): Promise<void> {
  const until = Date.now() + 15_000;
  while (store.status().compacting) {
    assert.ok(Date.now() < until, `${where}: background compaction did not finish within 15 s`);
    await sleep(5);
  }
}

/** Everything the parent can check about a reopened store; returns its revision and floor. */
async function verify(store: Store, acks: Acks, rnd: () => number, where: string): Promise<{ revision: number; floor: number; events: number }> {
  // A compaction cut short by the kill resumes on its own.
  await waitCompactionIdle(store, where);
  const st = store.status();
  assert.ok(st.revision >= acks.maxRevision, `${where}: store revision ${st.revision} < acknowledged ${acks.maxRevision}`);
  assert.ok(st.compactRevision >= acks.floor, `${where}: floor ${st.compactRevision} < acknowledged compaction ${acks.floor}`);
  const floor = st.compactRevision;
  if (floor > 1) {
    expectCompacted(() => store.get('c/0', { revision: floor - 1 }), `${where}: reads below the floor fail`);
    expectCompacted(() => store.changes(floor - 1), `${where}: changes below the floor fail`);
  }

  for (const [key, a] of acks.once) {
    const at = `${where}: acknowledged put ${key}@${a.revision}`;
    const want: KeyValue = { key: Buffer.from(key, 'latin1'), value: Buffer.from(a.value, 'latin1'), createRevision: a.revision, modRevision: a.revision, version: 1, lease: 0 };
    if (a.revision >= floor) sameKv(store.get(key, { revision: a.revision }), want, at);
    else expectCompacted(() => store.get(key, { revision: a.revision }), `${at}: compacted`);
    const deletedAt = acks.deleted.get(key);
    const latest = store.get(key);
    if (deletedAt !== undefined) {
      assert.ok(deletedAt > a.revision, `${at}: deleted after its put`);
      assert.equal(latest, undefined, `${at}: deleted at ${deletedAt}, still there`);
      if (deletedAt >= floor) assert.equal(store.get(key, { revision: deletedAt }), undefined, `${at}: absent at its delete`);
      if (deletedAt - 1 >= floor) sameKv(store.get(key, { revision: deletedAt - 1 }), want, `${at}: present just before its delete`);
    } else if (key.startsWith('d/')) {
      // An unacknowledged delete may have landed; nothing else touches the key.
      if (latest !== undefined) sameKv(latest, want, `${at}: latest`);
    } else {
      sameKv(latest, want, `${at}: latest`);
    }
  }
  for (const [prefix, a] of acks.txns) {
    for (const s of ['a', 'b', 'c']) {
      const key = prefix + s;
      const want: KeyValue = { key: Buffer.from(key, 'latin1'), value: Buffer.from(a.value, 'latin1'), createRevision: a.revision, modRevision: a.revision, version: 1, lease: 0 };
      sameKv(store.get(key), want, `${where}: acknowledged txn ${prefix}@${a.revision}: ${key}`);
      if (a.revision >= floor) sameKv(store.get(key, { revision: a.revision }), want, `${where}: txn ${key} at its revision`);
    }
  }
  for (const [key, a] of acks.counters) {
    const at = `${where}: counter ${key} acknowledged ${a.value}@${a.revision}`;
    const latest = store.get(key);
    assert.ok(latest, `${at}: missing`);
    const v = str(latest.value);
    // Only unacknowledged bumps issued later (with higher values) may have landed on top.
    assert.ok(latest.modRevision >= a.revision, `${at}: latest is older (${v}@${latest.modRevision})`);
    assert.ok(latest.modRevision === a.revision ? v === a.value : v > a.value, `${at}: latest ${v}@${latest.modRevision}`);
    if (a.revision >= floor) assert.equal(str(store.get(key, { revision: a.revision })?.value ?? Buffer.alloc(0)), a.value, `${at}: at its revision`);
    const hist = store.history(key);
    for (let i = 1; i < hist.length; i++) {
      assert.ok(str(hist[i]!.kv.value) > str(hist[i - 1]!.kv.value), `${at}: history goes backwards at ${hist[i]!.kv.modRevision}`);
    }
  }
  checkTxnGroups(store.prefix('t/').kvs, `${where}: latest`);
  const events = checkChangeLog(store, st.revision, floor, rnd, where);
  return { revision: st.revision, floor, events };
}

// ---------------------------------------------------------------------------------------------

test('acknowledged writes survive SIGKILL, txns stay whole, the log stays consistent, compaction resumes', { timeout: 90_000 }, async (t) => {
  const seed = process.env.AXIS_CRASH_SEED ? Number(process.env.AXIS_CRASH_SEED) : Math.floor(Math.random() * 2 ** 31);
  t.diagnostic(`seed ${seed} (set AXIS_CRASH_SEED=${seed} to repeat)`);
  const rnd = prng(seed);
  const dir = await tempDir();
  const acks = new Acks();
  const cycles = 20 + Math.floor(rnd() * 21);
  const started = Date.now();
  let last = { revision: 1, floor: 0, events: 0 };
  let killedWhileWriting = 0;
  for (let cycle = 0; cycle < cycles; cycle++) {
    // Keep the whole test bounded, whatever the machine.
    if (cycle >= 20 && Date.now() - started > 45_000) break;
    const where = `seed ${seed} cycle ${cycle}`;
    const killAfter = 50 + Math.floor(rnd() * 351);
    const run = await runChild(['write', dir, String(Math.floor(rnd() * 2 ** 31)), String(cycle), 'sync'], {
      timeoutMs: 15_000,
      killAfterReady: killAfter,
    });
    assert.equal(run.timedOut, false, `${where}: child never got ready: ${run.stderr}`);
    assert.equal(run.signal, 'SIGKILL', `${where}: child ended on its own (code ${run.code}): ${run.stderr}`);
    const ready = run.lines[0];
    assert.equal(ready?.op, 'ready', `${where}: first line`);
    // Nobody wrote since the parent's last look.
    assert.equal(ready.revision, last.revision, `${where}: revision at reopen`);
    assert.equal(ready.compactRevision, last.floor, `${where}: floor at reopen`);
    for (const line of run.lines.slice(1)) acks.record(line, where);
    if (run.lines.length > 1) killedWhileWriting++;

    const store = await open(dir, { durability: 'sync' });
    try {
      last = await verify(store, acks, rnd, where);
    } finally {
      await store.close();
    }
  }
  t.diagnostic(
    `${cycles} cycles, ${acks.count} acknowledged writes, ${acks.once.size} keys + ${acks.txns.size} txns, ` +
      `head ${last.revision}, floor ${last.floor}, ${last.events} events replayed last, ${Date.now() - started} ms`,
  );
  assert.ok(killedWhileWriting >= cycles / 2, 'most cycles were killed while writing');
  assert.ok(acks.floor > 0, 'some compaction was acknowledged');

  // The store still takes writes after all that, and keeps them.
  const store = await open(dir);
  try {
    const r = await store.put('after/crashes', 'ok');
    assert.equal(r.revision, last.revision + 1);
    assert.equal(store.get('after/crashes')?.value.toString(), 'ok');
    await store.compact(r.revision, { physical: true });
    assert.equal(store.status().compacting, false);
  } finally {
    await store.close();
  }
});

test('a child killed while holding the store open does not keep it locked', { timeout: 30_000 }, async () => {
  const dir = await tempDir();
  let inProcess: Promise<unknown> | undefined;
  const run = await runChild(['hold', dir], {
    timeoutMs: 15_000,
    // While the child holds it (writing, with a snapshot open), this process cannot open it; then kill it.
    onReady: (kill) => {
      inProcess = open(dir).then(
        async (s) => {
          await s.close();
          return 'opened';
        },
        (err: unknown) => (isAxisError(err) ? err.code : String(err)),
      );
      void inProcess.then(() => setTimeout(kill, 20));
    },
  });
  assert.equal(run.signal, 'SIGKILL', `child ended on its own: ${run.stderr}`);
  assert.equal(await inProcess, ErrorCode.ALREADY_OPEN);

  // The lock died with the child: this process opens it, and then another process does.
  const store = await open(dir);
  assert.equal(store.get('hold/first')?.value.toString(), 'x');
  await store.put('parent', 'was here');
  await store.close();
  const again = await runChild(['try-open', dir], { timeoutMs: 15_000 });
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(
    again.lines.map((l) => ({ op: l.op, ok: l.ok })),
    [{ op: 'open', ok: true }],
  );
});
