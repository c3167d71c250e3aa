/**
 * Installing a snapshot copy is atomic: a process killed anywhere in installCopy leaves a store
 * that opens and holds either its old state or the copy's, whole; the copy's Raft log is replaced
 * by the snapshot with the member's own term and vote.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from '../ts/storage/index.js';
import { runWriter } from './support/child.js';
import { entryApplier } from './support/apply-one.js';
import { tempDirs, until } from './support/fixtures.js';

const dir = tempDirs('install');
const CHILD = fileURLToPath(new URL('./support/install-child.js', import.meta.url));

/** A store in a new directory with `keys` keys valued `tag`, and a copy of it taken with copyTo. */
async function storeWithCopy(tag: string, keys: number): Promise<{ dataDir: string; copyDir: string }> {
  const dataDir = await dir();
  const s = await open(dataDir, { durability: 'sync', lessor: false });
  for (let i = 0; i < keys; i++) await s.put(`k${i}`, tag);
  const copyDir = path.join(await dir(), 'copy');
  await fs.mkdir(copyDir);
  await s.copyTo(copyDir);
  await s.close();
  return { dataDir, copyDir };
}

async function contents(dataDir: string): Promise<{ tag: string | undefined; count: number; hs: { term: number; vote: number; commit: number } }> {
  const s = await open(dataDir, { durability: 'sync', lessor: false });
  try {
    const r = s.prefix('k');
    return { tag: r.kvs[0]?.value.toString(), count: r.count, hs: s.raftLog().state().hardState };
  } finally {
    await s.close();
  }
}

for (const point of ['snapshot-install-before-rename', 'snapshot-install-after-rename', 'none']) {
  test(`a crash at ${point} leaves a whole store, old or new`, { timeout: 60_000 }, async () => {
    const old = await storeWithCopy('old', 5);
    const next = await storeWithCopy('new', 12);
    const r = await runWriter([next.copyDir, old.dataDir, '7', '3'], { timeoutMs: 30_000, script: CHILD, ...(point === 'none' ? {} : { env: { AXIS_FAILPOINT: point } }) });
    const after = await contents(old.dataDir);
    if (point === 'snapshot-install-before-rename') {
      assert.equal(r.signal, 'SIGKILL');
      assert.deepEqual([after.tag, after.count], ['old', 5], 'the old store, untouched');
    } else {
      if (point === 'none') assert.deepEqual(r.lines, [{ op: 'installed' }], r.stderr);
      else assert.equal(r.signal, 'SIGKILL');
      assert.deepEqual([after.tag, after.count], ['new', 12], 'the copy, whole');
      assert.deepEqual(after.hs, { term: 9, vote: 1, commit: 7 }, "the member's own term and vote, committed to the snapshot");
    }
  });
}

test("a copy of a 'raft' store taken while its last commits are not flushed yet opens at the copy's own state", { timeout: 60_000 }, async () => {
  // A 'raft' store answers applies once visible and flushes after; every open falls back to the
  // last flushed commit. A copy must not carry that state along: opened as a member's store, it
  // must hold exactly what the copy's read view held.
  const src = await open(await dir(), { durability: 'raft', lessor: false });
  const applier = entryApplier(src);
  let stop = false;
  const writers = Array.from({ length: 4 }, async (_, w) => {
    for (let i = 0; !stop; i++) await applier.apply({ put: { key: `w${w}/${i % 50}`, value: `v${i}` } });
  });
  try {
    for (let round = 0; round < 8; round++) {
      await until('entries applied', 20_000, () => applier.index() > (round + 1) * 40 || undefined, 5);
      const copyDir = path.join(await dir(), 'copy');
      await fs.mkdir(copyDir);
      await src.copyTo(copyDir);
      const plain = await open(copyDir, { durability: 'nosync', lessor: false });
      const seen = { applied: plain.applied().index, revision: plain.revision() };
      await plain.close();
      const asMember = await open(copyDir, { durability: 'raft', lessor: false });
      try {
        assert.deepEqual({ applied: asMember.applied().index, revision: asMember.revision() }, seen, `round ${round}: the copy opened as a member's store rolled back`);
        assert.equal(asMember.status().journalReplayed, 0);
      } finally {
        await asMember.close();
      }
    }
  } finally {
    stop = true;
    await Promise.all(writers);
    await src.close();
  }
});
