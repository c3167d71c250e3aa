/**
 * Child process for test/raft/durable-log-crash: persists raft log batches (durability 'sync')
 * until it is killed. Run as `node dist/test/support/raft-log-writer.js <dir> <seed> <cycle> [sync|raft]`
 * (the store's durability; 'sync' by default).
 *
 * Prints {op:'ready', ...} once open, then per operation one {op:'begin', ...} line describing it
 * exactly (so the parent can model it), and {op:'ack'} only after its promise resolved. One
 * operation at a time. Operations:
 *   append   {from, k, term, hs?}  k entries from `from` (the end, or a batch start: a conflicting
 *            suffix), data "c/b/k/j|padding" — entry j of batch b (cycle c) of k
 *   compact  {index, term}         snapshot at a batch's last entry, dropping everything up to it
 *   snapshot {index, term, hs}     install a snapshot past the end (replaces the log)
 * Appends sometimes share their group commit with concurrent KV puts. Ends itself after a deadline.
 */
import { open } from '../../ts/storage/index.js';
import { DurableStorage } from '../../ts/raft/durable-storage.js';
import type { Entry, HardState } from '../../ts/raft/types.js';
import { mulberry32 } from './prng.js';

const DEADLINE_MS = 15_000;

function emit(o: object): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

function die(err: unknown): never {
  process.stderr.write(`raft-log-writer: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
}

/** "c/b/k/j" of an entry written by this script. */
export function entryTag(data: Uint8Array): string {
  const s = Buffer.from(data).toString('utf8');
  const bar = s.indexOf('|');
  return bar < 0 ? s : s.slice(0, bar);
}

async function main(dir: string, seed: number, cycle: number, durability: 'sync' | 'raft'): Promise<void> {
  const rnd = mulberry32(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const store = await open(dir, { durability });
  const log = new DurableStorage(store.raftLog());
  let term = Math.max(log.initialState().hardState.term, log.term(log.lastIndex()));
  emit({ op: 'ready', first: log.firstIndex(), last: log.lastIndex(), term });
  const batchStarts = (): number[] => {
    const first = log.firstIndex();
    const last = log.lastIndex();
    if (last < first) return [];
    return log
      .entries(first, last + 1, Number.MAX_SAFE_INTEGER)
      .filter((e) => entryTag(e.data).endsWith('/0'))
      .map((e) => e.index);
  };
  for (let b = 0; ; b++) {
    const p = rnd();
    const last = log.lastIndex();
    const starts = batchStarts();
    if (p < 0.82) {
      let from = last + 1;
      if (p >= 0.7 && starts.length > 0) {
        from = starts[Math.max(0, starts.length - int(1, 3))]!;
        term++;
      }
      const k = int(1, 8);
      const ents: Entry[] = [];
      for (let j = 0; j < k; j++) {
        ents.push({ index: from + j, term, type: 0, data: Buffer.from(`${cycle}/${b}/${k}/${j}|${'x'.repeat(int(0, 300))}`) });
      }
      const hs: HardState | undefined = rnd() < 0.7 ? { term, vote: int(1, 3), commit: int(0, from - 1) } : undefined;
      emit({ op: 'begin', kind: 'append', from, k, term, c: cycle, b, hs: hs ?? null });
      const jobs: Promise<unknown>[] = [log.persist({ hardState: hs, entries: ents })];
      if (rnd() < 0.3) for (let i = int(1, 4); i > 0; i--) jobs.push(store.put(`kv/${cycle}/${b}/${i}`, 'v'));
      await Promise.all(jobs);
    } else if (p < 0.94) {
      if (starts.length < 2) continue;
      // the end of a batch that is not the last
      const index = starts[int(1, starts.length - 1)]! - 1;
      const t = log.term(index);
      emit({ op: 'begin', kind: 'compact', index, term: t });
      await log.compact(index, { voters: [1, 2, 3], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false });
    } else {
      term++;
      const index = last + int(1, 5);
      const hs: HardState = { term, vote: 0, commit: index };
      emit({ op: 'begin', kind: 'snapshot', index, term, hs });
      await log.persist({
        hardState: hs,
        snapshot: { meta: { index, term, confState: { voters: [1], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array() },
      });
    }
    emit({ op: 'ack' });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  setTimeout(() => die(new Error(`deadline of ${DEADLINE_MS} ms passed`)), DEADLINE_MS).unref();
  const [dir, seed, cycle, durability = 'sync'] = process.argv.slice(2);
  if (!dir || (durability !== 'sync' && durability !== 'raft')) die(new Error('usage: raft-log-writer <dir> <seed> <cycle> [sync|raft]'));
  main(dir, Number(seed), Number(cycle), durability).catch(die);
}
