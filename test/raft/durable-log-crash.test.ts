/**
 * Crash safety of the durable raft log: a child process persists batches of entries (durability
 * 'sync') and reports each once its promise resolved; the parent SIGKILLs it at a random moment,
 * reopens the store and checks that the log is exactly what the acknowledged operations built —
 * or that plus the one operation in flight, whole: every acknowledged entry and hard state is
 * there, the log is contiguous from firstIndex to lastIndex, and no batch is half-written.
 *
 * The same with durability 'raft' (a member's store: appends durable through the journal, commits
 * visible before they are flushed). Its open rolls back a commit not yet flushed, as after an OS
 * crash, and the journal must put back every acknowledged append and snapshot. A compaction may be
 * rolled back (the log then starts lower, with the entries it still had); from then on the model
 * is what the store holds.
 *
 * The seed is random unless AXIS_CRASH_SEED is set; it is printed, and part of every failure message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { open } from '../../ts/storage/index.js';
import { DurableStorage } from '../../ts/raft/durable-storage.js';
import type { HardState } from '../../ts/raft/types.js';
import { mulberry32, tempDirs } from '../support/fixtures.js';
import { runWriter, type Line } from '../support/child.js';

const tempDir = tempDirs('raftlog-crash');
const SCRIPT = fileURLToPath(new URL('../support/raft-log-writer.js', import.meta.url));
const CYCLES = 15;

interface ModelEntry {
  index: number;
  term: number;
  tag: string;
}

interface Model {
  snapIndex: number;
  snapTerm: number;
  hs: HardState;
  entries: ModelEntry[]; // contiguous from snapIndex + 1
}

function applyOp(m: Model, op: Line): Model {
  const next: Model = { ...m, hs: { ...m.hs }, entries: m.entries.slice() };
  if (op.kind === 'append') {
    const from = op.from as number;
    const k = op.k as number;
    const last = next.snapIndex + next.entries.length;
    assert.ok(from > next.snapIndex && from <= last + 1, `append at ${from} outside (${next.snapIndex}, ${last + 1}]`);
    next.entries.length = from - next.snapIndex - 1;
    for (let j = 0; j < k; j++) next.entries.push({ index: from + j, term: op.term as number, tag: `${String(op.c)}/${String(op.b)}/${k}/${j}` });
    if (op.hs) next.hs = op.hs as HardState;
  } else if (op.kind === 'compact') {
    const index = op.index as number;
    next.entries = next.entries.filter((e) => e.index > index);
    next.snapIndex = index;
    next.snapTerm = op.term as number;
  } else if (op.kind === 'snapshot') {
    next.entries = [];
    next.snapIndex = op.index as number;
    next.snapTerm = op.term as number;
    next.hs = op.hs as HardState;
  } else {
    assert.fail(`unknown op ${JSON.stringify(op)}`);
  }
  return next;
}

/**
 * `actual` as `m` would see it if `actual` merely lost compactions (durability 'raft'): a snapshot
 * at or below m's, and the entries in between (which m dropped) dropped too.
 */
function rolledBackCompaction(actual: Model, m: Model): Model {
  if (actual.snapIndex >= m.snapIndex) return actual;
  return { snapIndex: m.snapIndex, snapTerm: m.snapTerm, hs: actual.hs, entries: actual.entries.filter((e) => e.index > m.snapIndex) };
}

function tagOf(data: Uint8Array): string {
  const s = Buffer.from(data).toString('utf8');
  const bar = s.indexOf('|');
  return bar < 0 ? s : s.slice(0, bar);
}

for (const durability of ['sync', 'raft'] as const) {
  test(`durable raft log (${durability}): acknowledged batches survive SIGKILL${durability === 'raft' ? ' and losing what was not flushed' : ''}, whole or not at all`, () => crashCycles(durability));
}

async function crashCycles(durability: 'sync' | 'raft'): Promise<void> {
  const seed = process.env.AXIS_CRASH_SEED ? Number(process.env.AXIS_CRASH_SEED) : Math.floor(Math.random() * 2 ** 31);
  console.log(`durable-log-crash seed ${seed}`);
  const rnd = mulberry32(seed);
  const dir = await tempDir();
  let model: Model = { snapIndex: 0, snapTerm: 0, hs: { term: 0, vote: 0, commit: 0 }, entries: [] };
  let acked = 0;
  let inFlightLanded = 0;
  let replayed = 0;
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    const where = `seed ${seed} cycle ${cycle}`;
    const killAfter = Math.floor(rnd() * 250);
    const run = await runWriter([dir, String(Math.floor(rnd() * 2 ** 31)), String(cycle), durability], {
      timeoutMs: 10_000,
      killAfterReady: killAfter,
      script: SCRIPT,
    });
    assert.ok(!run.timedOut, `${where}: the child timed out; stderr: ${run.stderr}`);
    assert.equal(run.signal, 'SIGKILL', `${where}: the child ended on its own (code ${run.code}): ${run.stderr}`);
    assert.equal(run.lines[0]?.op, 'ready', `${where}: no ready line; stderr: ${run.stderr}`);
    assert.equal(run.lines[0]?.last, model.snapIndex + model.entries.length, `${where}: the child saw a different last index`);
    let pending: Line | undefined;
    for (const line of run.lines.slice(1)) {
      assert.notEqual(line.op, 'garbage', `${where}: unreadable line ${JSON.stringify(line)}`);
      if (line.op === 'begin') {
        assert.equal(pending, undefined, `${where}: two operations in flight`);
        pending = line;
      } else {
        assert.equal(line.op, 'ack', `${where}: unknown line ${JSON.stringify(line)}`);
        assert.ok(pending, `${where}: ack without an operation`);
        model = applyOp(model, pending);
        pending = undefined;
        acked++;
      }
    }
    const candidates = [model];
    if (pending) candidates.push(applyOp(model, pending));

    const store = await open(dir, { durability });
    replayed += store.status().journalReplayed;
    try {
      const log = new DurableStorage(store.raftLog());
      const first = log.firstIndex();
      const last = log.lastIndex();
      const hs = log.initialState().hardState;
      const snap = log.snapshot().meta;
      assert.equal(first, snap.index + 1, `${where}: firstIndex is the snapshot's index + 1`);
      assert.equal(log.term(snap.index), snap.term, `${where}: the snapshot's index answers its term`);
      const ents = last >= first ? log.entries(first, last + 1, Number.MAX_SAFE_INTEGER) : [];
      // contiguous from firstIndex to lastIndex
      assert.equal(ents.length, last - first + 1, `${where}: ${ents.length} entries in [${first}, ${last}]`);
      ents.forEach((e, i) => assert.equal(e.index, first + i, `${where}: a hole in the log at ${first + i}`));
      // every batch present is whole: entries j = 0..k-1 in a row
      const got = ents.map((e) => ({ index: e.index, term: e.term, tag: tagOf(e.data) }));
      for (let i = 0; i < got.length; ) {
        const [c, b, k, j] = got[i]!.tag.split('/').map(Number) as [number, number, number, number];
        assert.equal(j, 0, `${where}: the log starts a batch mid-way at ${got[i]!.index} (${got[i]!.tag})`);
        for (let x = 0; x < k; x++) {
          assert.equal(got[i + x]?.tag, `${c}/${b}/${k}/${x}`, `${where}: batch ${c}/${b} of ${k} is cut short at ${got[i]!.index + x}`);
        }
        i += k;
      }
      const actual: Model = { snapIndex: snap.index, snapTerm: snap.term, hs, entries: got };
      const match = candidates.findIndex((m) => {
        try {
          if (durability === 'sync') assert.deepEqual(actual, m);
          else assert.deepEqual(rolledBackCompaction(actual, m), m);
          return true;
        } catch {
          return false;
        }
      });
      if (match < 0) {
        // Show the difference against the acknowledged state.
        assert.deepEqual(actual, model, `${where}: the log is neither the acknowledged state nor that plus the operation in flight (${JSON.stringify(pending)})`);
      }
      if (match === 1) inFlightLanded++;
      model = durability === 'sync' ? candidates[match]! : actual;
    } finally {
      await store.close();
    }
  }
  console.log(`durable-log-crash (${durability}): ${acked} acknowledged operations over ${CYCLES} kills; ${inFlightLanded} unacknowledged in-flight operations landed whole; ${replayed} journal records replayed`);
  assert.ok(acked > 0, `seed ${seed}: nothing was acknowledged`);
  if (durability === 'raft') assert.ok(replayed > 0, `seed ${seed}: no kill left a commit unflushed, so the journal was never replayed: the test proved nothing`);
}
