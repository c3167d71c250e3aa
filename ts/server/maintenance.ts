/**
 * What a member does by itself to stay healthy for months:
 *
 * - Storage quota: past `quotaBackendBytes` in use, the member raises a NOSPACE alarm through Raft.
 *   While one is active every member refuses writes that add data (AXIS_QUOTA_EXCEEDED, decided in
 *   the replicated state machine); reads, deletes, compactions and revokes go through, so an
 *   operator can free space, defragment, and disarm it (`axis alarm disarm`).
 * - Automatic compaction (the leader, off by default): 'revision' keeps the last N revisions;
 *   'periodic' keeps the revisions of the last T ms (sampled every T/10, as etcd's periodic
 *   compactor).
 * - Corruption check (the leader, every `corruptCheckIntervalMs`): every member's key-space hash at
 *   one revision is compared with the leader's; a member whose hash differs at the same compaction
 *   floor gets a CORRUPT alarm.
 */
import { connect, type Client } from '../client/index.js';
import { isAxisError } from '../errors/index.js';
import { prepareAlarm, prepareCompact } from '../storage/index.js';
import type { Logger } from './logger.js';
import type { Member } from './member.js';

/** How often the quota and the compaction policy are looked at. */
const CHECK_MS = 1000;

export class Maintenance {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly samples: { at: number; revision: number }[] = [];
  private busy = new Set<string>();
  private readonly peers = new Map<string, Promise<Client>>();
  private stopped = false;

  constructor(
    private readonly member: Member,
    private readonly log: Logger,
  ) {}

  start(): void {
    const c = this.member.config;
    this.every(CHECK_MS, 'quota', () => this.checkQuota());
    if (c.autoCompactionMode === 'revision') this.every(CHECK_MS, 'compact', () => this.compactByRevision(c.autoCompactionRetention!));
    if (c.autoCompactionMode === 'periodic') {
      const every = Math.max(100, Math.min(3_600_000, Math.floor(c.autoCompactionRetention! / 10)));
      this.every(every, 'compact', () => this.compactByAge(c.autoCompactionRetention!));
    }
    if (c.corruptCheckIntervalMs > 0) this.every(c.corruptCheckIntervalMs, 'hash', () => this.checkHashes());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const p of this.peers.values()) await (await p.catch(() => undefined))?.close();
    this.peers.clear();
  }

  /** Runs `f` every `ms`, never two of the same kind at once; its failures are logged, not thrown. */
  private every(ms: number, kind: string, f: () => Promise<unknown>): void {
    const t = setInterval(() => {
      if (this.stopped || this.busy.has(kind)) return;
      this.busy.add(kind);
      f().catch((err: unknown) => {
        if (!this.stopped) this.log.warn({ event: 'maintenance-failed', kind, err }, `${kind} check failed: ${(err as Error).message}`);
      }).finally(() => this.busy.delete(kind));
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  private async checkQuota(): Promise<void> {
    const store = this.member.store;
    const { dbSizeInUse } = store.status();
    if (dbSizeInUse <= this.member.config.quotaBackendBytes) return;
    if (store.alarms().some((a) => a.type === 'NOSPACE' && a.member === this.member.id)) return;
    this.log.warn({ event: 'quota-exceeded', dbSizeInUse, quota: this.member.config.quotaBackendBytes }, `${dbSizeInUse} bytes in use, past the quota: raising NOSPACE`);
    await this.member.proposeWrite(prepareAlarm(true, 'NOSPACE', this.member.id));
  }

  private async compact(to: number): Promise<void> {
    this.log.info({ event: 'auto-compaction', revision: to }, `compacting to revision ${to} (automatic)`);
    try {
      await this.member.proposeWrite(prepareCompact(to), { asLeader: true });
    } catch (err) {
      if (!isAxisError(err)) throw err; // compacted already, or no longer leading: the next round decides
    }
  }

  private async compactByRevision(keep: number): Promise<void> {
    if (!this.member.leading) return;
    const store = this.member.store;
    const target = store.revision() - keep;
    const floor = store.status().compactRevision;
    // Not for every new revision: once a tenth of the retention has piled up.
    if (target > floor && target - floor >= Math.max(1, Math.floor(keep / 10))) await this.compact(target);
  }

  private async compactByAge(retentionMs: number): Promise<void> {
    const now = Date.now();
    this.samples.push({ at: now, revision: this.member.store.revision() });
    while (this.samples.length > 0 && this.samples[0]!.at < now - 2 * retentionMs) this.samples.shift();
    if (!this.member.leading) return;
    let target = 0;
    for (const s of this.samples) if (s.at <= now - retentionMs) target = s.revision;
    if (target > this.member.store.status().compactRevision) await this.compact(target);
  }

  private peer(url: string): Promise<Client> {
    let p = this.peers.get(url);
    if (!p) {
      p = connect({ ...this.member.peerClientOptions(), endpoints: [url], timeoutMs: 10_000 });
      p.catch(() => this.peers.delete(url));
      this.peers.set(url, p);
    }
    return p;
  }

  /** The leader compares every member's hash at its own current revision. */
  async checkHashes(): Promise<{ member: number; hash: string; compactRevision: number; matches: boolean }[]> {
    if (!this.member.leading) return [];
    const store = this.member.store;
    const mine = await store.hashKv(store.revision());
    const out = [];
    for (const m of this.member.memberListing()) {
      if (m.id === this.member.id || !m.clientUrl) continue;
      let theirs: { hash: string; compactRevision: number };
      try {
        theirs = await (await this.peer(m.clientUrl)).hashKv(mine.revision);
      } catch (err) {
        this.log.warn({ event: 'hash-check-skipped', for: m.name, err }, `no hash from ${m.name}: ${(err as Error).message}`);
        continue;
      }
      // A member between a compaction's apply and ours hashes another floor: compared next time.
      if (theirs.compactRevision !== mine.compactRevision) continue;
      const matches = theirs.hash === mine.hash;
      out.push({ member: m.id, hash: theirs.hash, compactRevision: theirs.compactRevision, matches });
      if (!matches) {
        this.log.error({ event: 'hash-mismatch', for: m.name, revision: mine.revision, leaderHash: mine.hash, memberHash: theirs.hash }, `${m.name} hashes the key space differently at revision ${mine.revision}: raising CORRUPT`);
        await this.member.proposeWrite(prepareAlarm(true, 'CORRUPT', m.id));
      }
    }
    return out;
  }
}
