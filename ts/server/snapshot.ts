/**
 * Store snapshots between members, and for `axis snapshot save`.
 *
 * A snapshot is a copy of the member's whole LMDB environment (Store.copyTo: one consistent moment,
 * taken on a pool thread while writes go on), read in chunks over the client protocol
 * (SnapshotReadRequest). The reader pulls, one chunk at a time, so the sender never holds more than
 * a chunk in memory for it and a slow reader slows only itself: that is the back-pressure.
 *
 * Between members: when Raft wants to send a snapshot to a follower that is too far behind (or new),
 * the leader makes a copy and sends a ticket (where and which copy) in place of the data; the
 * follower pulls the copy into a directory beside its store, makes it durable, and only then hands
 * Raft the snapshot. Installing it (installCopy) swaps the store's data file for the copy with one
 * rename, so a crash leaves either the old store or the new one, whole.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { AxisError, ErrorCode } from '../errors/index.js';
import { failpoint } from '../failpoint.js';
import { encodeConfState } from '../raft/durable-storage.js';
import type { ConfState, HardState } from '../raft/types.js';
import { JOURNAL_FILE, type OpenOptions, type Store, open } from '../storage/index.js';
import { decodeMembership, encodeMembership } from './membership.js';

/** Bytes per SnapshotRead reply. */
export const SNAPSHOT_CHUNK = 1024 * 1024;
/** A copy nobody read for this long is deleted. */
const COPY_IDLE_MS = 60_000;

export interface CopyInfo {
  id: number;
  size: number;
  /** The last Raft entry the copy applied, its term, and the store revision then. */
  index: number;
  term: number;
  revision: number;
  /** The membership then (encodeMembership). */
  conf: Uint8Array;
}

interface Copy extends CopyInfo {
  dir: string;
  createdAt: number;
  lastUsed: number;
  file: fs.FileHandle | undefined;
}

/** Where a member keeps copies it serves and copies it receives. */
export function snapshotRoot(dataDir: string): string {
  return path.join(dataDir, 'snapshots');
}

/** Reads what a copy holds: its applied entry, revision and membership. Opening it is a write, which the copy may take. */
async function describe(dir: string): Promise<Omit<CopyInfo, 'id' | 'size'>> {
  const s = await open(dir, { durability: 'nosync', lessor: false, writerSpinMicros: 0 });
  try {
    const a = s.applied();
    const raft = s.raftLog().state();
    const conf = a.conf && a.index > raft.snapshot.index ? a.conf : raft.snapshot.confState;
    return { index: Math.max(a.index, raft.snapshot.index), term: a.index > raft.snapshot.index ? a.term : raft.snapshot.term, revision: s.revision(), conf };
  } finally {
    await s.close();
  }
}

export class SnapshotSource {
  private readonly copies = new Map<number, Copy>();
  private making: Promise<Copy> | undefined;
  private nextId = Math.floor(Math.random() * 2 ** 40) + 1;
  private closed = false;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly root: string,
    private readonly store: () => Store,
  ) {
    this.sweeper = setInterval(() => void this.sweep(), COPY_IDLE_MS / 4);
    this.sweeper.unref();
  }

  /**
   * A copy made now, or the newest one if it is younger than `reuseMs` and `fits` (a follower
   * needs one that reaches the leader's log and whose membership includes it).
   */
  async latest(reuseMs = 0, fits: (c: CopyInfo) => boolean = () => true): Promise<CopyInfo> {
    if (this.closed) throw new AxisError(ErrorCode.UNAVAILABLE, 'the member is stopping');
    const now = Date.now();
    let newest: Copy | undefined;
    for (const c of this.copies.values()) if (!newest || c.id > newest.id) newest = c;
    if (newest && now - newest.createdAt < reuseMs && fits(info(newest))) return info(newest);
    for (let i = 0; i < 3; i++) {
      this.making ??= this.make().finally(() => {
        this.making = undefined;
      });
      const c = info(await this.making);
      if (fits(c)) return c;
    }
    throw new AxisError(ErrorCode.UNAVAILABLE, 'no copy of the store fit (its applied index or membership lagged)');
  }

  private async make(): Promise<Copy> {
    const id = this.nextId++;
    const dir = path.join(this.root, `out-${id}`);
    await fs.rm(dir, { recursive: true, force: true });
    await fs.mkdir(dir, { recursive: true });
    try {
      await this.store().copyTo(dir);
      const d = await describe(dir);
      const size = (await fs.stat(path.join(dir, 'data.mdb'))).size;
      const c: Copy = { id, size, ...d, dir, createdAt: Date.now(), lastUsed: Date.now(), file: undefined };
      this.copies.set(id, c);
      return c;
    } catch (err) {
      await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
  }

  /** Up to SNAPSHOT_CHUNK bytes of copy `id` from `offset`. */
  async read(id: number, offset: number): Promise<{ info: CopyInfo; data: Buffer }> {
    const c = this.copies.get(id);
    if (!c) throw new AxisError(ErrorCode.SNAPSHOT_GONE, `snapshot ${id} is not held here (dropped after a minute unread, or made by another member)`);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > c.size) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `offset ${offset} is outside snapshot ${id} (${c.size} bytes)`);
    c.lastUsed = Date.now();
    c.file ??= await fs.open(path.join(c.dir, 'data.mdb'), 'r');
    const data = Buffer.allocUnsafe(Math.min(SNAPSHOT_CHUNK, c.size - offset));
    let got = 0;
    while (got < data.length) {
      const { bytesRead } = await c.file.read(data, got, data.length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { info: info(c), data: data.subarray(0, got) };
  }

  /** When copy `id` was last read (made, if never), or undefined once it is gone. */
  lastRead(id: number): number | undefined {
    return this.copies.get(id)?.lastUsed;
  }

  private async drop(c: Copy): Promise<void> {
    this.copies.delete(c.id);
    await c.file?.close().catch(() => {});
    await fs.rm(c.dir, { recursive: true, force: true }).catch(() => {});
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const c of [...this.copies.values()]) if (now - c.lastUsed >= COPY_IDLE_MS) await this.drop(c);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    await this.making?.catch(() => {});
    for (const c of [...this.copies.values()]) await this.drop(c);
  }
}

function info(c: Copy): CopyInfo {
  return { id: c.id, size: c.size, index: c.index, term: c.term, revision: c.revision, conf: c.conf };
}

/** What a leader sends a follower in place of snapshot data: where to pull the copy from. */
export interface SnapshotTicket {
  clientUrl: string;
  id: number;
  size: number;
}

export function encodeTicket(t: SnapshotTicket): Uint8Array {
  return Buffer.from(JSON.stringify(t), 'utf8');
}

export function decodeTicket(b: Uint8Array): SnapshotTicket | undefined {
  try {
    const o = JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')) as Partial<SnapshotTicket>;
    if (typeof o.clientUrl !== 'string' || typeof o.id !== 'number' || typeof o.size !== 'number') return undefined;
    return { clientUrl: o.clientUrl, id: o.id, size: o.size };
  } catch {
    return undefined;
  }
}

/** Reads chunk `offset` of copy `id` (a client's snapshotRead, or a test's stand-in). */
export type ChunkReader = (id: number, offset: number) => Promise<{ size: number; data: Uint8Array }>;

/**
 * Pulls a whole copy into `dir`/data.mdb and makes it durable (file and directory synced).
 * Fails (AXIS_SNAPSHOT_GONE, AXIS_UNAVAILABLE, ...) on the first chunk that cannot be read.
 */
export async function pullCopy(read: ChunkReader, id: number, size: number, dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  const f = await fs.open(path.join(dir, 'data.mdb'), 'w', 0o600);
  try {
    let offset = 0;
    while (offset < size) {
      const chunk = await read(id, offset);
      if (chunk.size !== size) throw new AxisError(ErrorCode.SNAPSHOT_GONE, `snapshot ${id} changed size`);
      if (chunk.data.length === 0) throw new AxisError(ErrorCode.STORAGE, `snapshot ${id} ended at ${offset} of ${size} bytes`);
      await f.write(chunk.data, 0, chunk.data.length, offset);
      offset += chunk.data.length;
    }
    await f.sync();
  } finally {
    await f.close();
  }
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  const d = await fs.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/**
 * Makes a pulled copy this member's store: its Raft log becomes just the snapshot (index, term,
 * membership) with this member's own term and vote, then its data file replaces the store's with
 * one rename. The store at `dataDir` must be closed. A crash before the rename leaves the old
 * store (and a copy that is deleted at the next start); after it, the new one.
 */
export async function installCopy(
  copyDir: string,
  dataDir: string,
  snap: { index: number; term: number; conf: ConfState },
  hs: HardState,
  options: OpenOptions,
): Promise<void> {
  const s = await open(copyDir, { ...options, lessor: false });
  try {
    const kept = s.applied().conf;
    const members = kept ? decodeMembership(kept).members : undefined;
    const confBytes = members ? encodeMembership({ conf: snap.conf, members }) : encodeConfState(snap.conf);
    await s.raftLog().persist({
      snapshot: { index: snap.index, term: snap.term, confState: confBytes },
      hardState: { term: hs.term, vote: hs.vote, commit: Math.max(hs.commit, snap.index) },
      entries: [],
    });
  } finally {
    await s.close();
  }
  // The old store's journal must not be replayed into the new one (it was closed, so flushed:
  // nothing in the journal is needed).
  await fs.rm(path.join(dataDir, JOURNAL_FILE), { force: true });
  failpoint('snapshot-install-before-rename');
  await fs.rename(path.join(copyDir, 'data.mdb'), path.join(dataDir, 'data.mdb'));
  await syncDir(dataDir);
  failpoint('snapshot-install-after-rename');
  await fs.rm(copyDir, { recursive: true, force: true });
}

/**
 * `axis snapshot restore`: makes a saved copy the store of member `name` of a new cluster
 * (`initialCluster`). Its data (keys, history, leases) stays; its Raft log starts over at the
 * entry the copy applied, with the new membership, so every member restored from the same file
 * agrees on the log's start. The data directory must not hold a store yet.
 */
export async function restoreSnapshot(file: string, dataDir: string, members: { id: number; name: string; peerUrl: string }[]): Promise<{ index: number; revision: number }> {
  try {
    await fs.access(path.join(dataDir, 'data.mdb'));
    throw new AxisError(ErrorCode.INVALID_ARGUMENT, `${dataDir} holds a store already; restore into a new directory`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const work = path.join(dataDir, '.restoring');
  await fs.rm(work, { recursive: true, force: true });
  await fs.mkdir(work, { recursive: true });
  try {
    await fs.copyFile(file, path.join(work, 'data.mdb'));
  } catch (err) {
    throw new AxisError(ErrorCode.INVALID_ARGUMENT, `cannot read snapshot file ${file}: ${(err as Error).message}`);
  }
  const d = await describe(work);
  const conf: ConfState = { voters: members.map((m) => m.id), votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false };
  const s = await open(work, { lessor: false });
  try {
    await s.raftLog().persist({
      snapshot: { index: d.index, term: d.term, confState: encodeMembership({ conf, members: members.map((m) => ({ ...m, clientUrl: '' })) }) },
      hardState: { term: d.term, vote: 0, commit: d.index },
      entries: [],
    });
  } finally {
    await s.close();
  }
  await fs.rename(path.join(work, 'data.mdb'), path.join(dataDir, 'data.mdb'));
  await syncDir(dataDir);
  await fs.rm(work, { recursive: true, force: true });
  return { index: d.index, revision: d.revision };
}
