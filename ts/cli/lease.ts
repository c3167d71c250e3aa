/**
 * `axis lease grant|revoke|timetolive|list|keep-alive`, as etcdctl's: lease ids are printed and
 * read in hexadecimal (`%016x`), and the simple output uses etcdctl's wording. Against a cluster
 * (--endpoints) or an embedded store (--data-dir).
 */
import path from 'node:path';
import { connect, type Client } from '../client/index.js';
import { AxisError, ErrorCode } from '../errors/index.js';
import { Limits, open, type Store } from '../storage/index.js';
import type { Flags } from './main.js';
import { clusterConnectOptions } from './keys.js';

/** A lease id as etcdctl prints it: 16 hex digits. */
export function leaseHex(id: number): string {
  return id.toString(16).padStart(16, '0');
}

/** A lease id as etcdctl reads it: hexadecimal (no 0x), a positive safe integer. */
export function parseLeaseId(s: string | undefined, what = 'lease id'): number {
  if (s === undefined || !/^[0-9a-fA-F]{1,16}$/.test(s)) {
    throw new AxisError(ErrorCode.INVALID_ARGUMENT, `${what} must be hexadecimal, as axis and etcdctl print it (e.g. 000326f0e3c1a7d5), got ${JSON.stringify(s ?? '')}`);
  }
  const n = BigInt(`0x${s}`);
  if (n < 1n || n > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new AxisError(ErrorCode.INVALID_ARGUMENT, `${what} must be from 1 to ${Number.MAX_SAFE_INTEGER.toString(16)} (hex), got ${s}`);
  }
  return Number(n);
}

function parseTtl(s: string | undefined): number {
  const n = s !== undefined && /^[0-9]+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > Limits.maxLeaseTtl) {
    throw new AxisError(ErrorCode.INVALID_ARGUMENT, `TTL must be a whole number of seconds from 1 to ${Limits.maxLeaseTtl}, got ${JSON.stringify(s ?? '')}`);
  }
  return n;
}

type Target = Client | Store;

/** The lease calls of both targets, by one shape (the store's reads are synchronous). */
interface Leases {
  grant(ttl: number): Promise<{ id: number; ttl: number }>;
  revoke(id: number): Promise<{ revision: number; deleted: number }>;
  renew(id: number): Promise<{ id: number; ttl: number }>;
  timeToLive(id: number, keys: boolean): Promise<{ id: number; ttl: number; remaining: number; keys?: Buffer[] }>;
  list(): Promise<{ id: number }[]>;
}

function leasesOf(t: Target): Leases {
  return {
    grant: async (ttl) => t.leaseGrant(ttl),
    revoke: async (id) => t.leaseRevoke(id),
    renew: async (id) => t.leaseKeepAlive(id),
    timeToLive: async (id, keys) => t.leaseTimeToLive(id, { keys }),
    list: async () => t.leases(),
  };
}

/** AXIS_LEASE_NOT_FOUND names the lease in hex, as the user typed it. */
function notFound(err: unknown, id: number, what: string): unknown {
  if (err instanceof AxisError && err.code === ErrorCode.LEASE_NOT_FOUND) return new AxisError(ErrorCode.LEASE_NOT_FOUND, `lease ${leaseHex(id)} ${what}`);
  return err;
}

/** Runs `axis lease <sub> ...`; every argument is checked before anything is opened. */
export async function leaseCommand(args: string[], flags: Flags, usage: string): Promise<number> {
  const [sub, ...rest] = args;
  const bad = (msg: string) => new AxisError(ErrorCode.INVALID_ARGUMENT, `${msg}\n\n${usage}`);
  const need = (n: number, names: string) => {
    if (rest.length !== n) throw bad(`lease ${sub} takes ${n === 0 ? 'no arguments' : `1 argument, ${names}`}`);
  };
  if (sub === undefined) throw bad('lease needs a subcommand: grant, revoke, timetolive, list or keep-alive');
  if (flags.keys && sub !== 'timetolive') throw bad('--keys goes with lease timetolive');
  if (flags.once && sub !== 'keep-alive') throw bad('--once goes with lease keep-alive');
  let call: (l: Leases) => Promise<{ json: unknown; text: string }>;
  switch (sub) {
    case 'grant': {
      need(1, 'a TTL in seconds');
      const ttl = parseTtl(rest[0]);
      call = async (l) => {
        const r = await l.grant(ttl);
        return { json: { id: r.id, ttl: r.ttl }, text: `lease ${leaseHex(r.id)} granted with TTL(${r.ttl}s)` };
      };
      break;
    }
    case 'revoke': {
      need(1, 'a lease id');
      const id = parseLeaseId(rest[0]);
      call = async (l) => {
        const r = await l.revoke(id).catch((e: unknown) => Promise.reject(notFound(e, id, 'not found')));
        return { json: { revision: r.revision, deleted: r.deleted }, text: `lease ${leaseHex(id)} revoked` };
      };
      break;
    }
    case 'timetolive': {
      need(1, 'a lease id');
      const id = parseLeaseId(rest[0]);
      const keys = flags.keys ?? false;
      call = async (l) => {
        const r = await l.timeToLive(id, keys).catch((e: unknown) => Promise.reject(notFound(e, id, 'not found (never granted, revoked or expired)')));
        const ks = (r.keys ?? []).map((k) => k.toString());
        return {
          json: { id: r.id, ttl: r.ttl, remaining: r.remaining, ...(keys ? { keys: ks } : {}) },
          text: `lease ${leaseHex(r.id)} granted with TTL(${r.ttl}s), remaining(${r.remaining}s)${keys ? `, attached keys([${ks.join(' ')}])` : ''}`,
        };
      };
      break;
    }
    case 'list':
      need(0, '');
      call = async (l) => {
        const ids = (await l.list()).map((x) => x.id);
        return { json: { leases: ids }, text: [`found ${ids.length} leases`, ...ids.map(leaseHex)].join('\n') };
      };
      break;
    case 'keep-alive':
      need(1, 'a lease id');
      return keepAlive(parseLeaseId(rest[0]), flags);
    default:
      throw bad(`unknown lease subcommand ${sub}: grant, revoke, timetolive, list or keep-alive`);
  }
  const t = await openTarget(flags);
  try {
    const out = await call(leasesOf(t));
    console.log(flags['write-out'] === 'json' ? JSON.stringify(out.json, null, 2) : out.text);
  } finally {
    await t.close();
  }
  return 0;
}

async function openTarget(flags: Flags): Promise<Target> {
  if (flags['data-dir'] !== undefined) return open(path.resolve(flags['data-dir']));
  return connect(clusterConnectOptions(flags));
}

/**
 * `axis lease keep-alive ID`: renews now and then every third of the TTL until SIGINT/SIGTERM
 * (exit 0), printing each renewal; `--once` renews once. A lease that cannot be renewed (revoked,
 * expired, or no member answered) is an error: exit 1. With --data-dir the embedded store stays
 * open meanwhile (its lessor runs only while some process has it open).
 */
async function keepAlive(id: number, flags: Flags): Promise<number> {
  const t = await openTarget(flags);
  const cluster = flags['data-dir'] === undefined;
  const l = leasesOf(t);
  let stopping = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopping = true;
    wake?.();
    // A cluster call in flight may retry for seconds: closing the client ends it now.
    if (cluster) void t.close();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    while (!stopping) {
      let r: { id: number; ttl: number };
      try {
        r = await l.renew(id);
      } catch (err) {
        if (stopping) break;
        if (err instanceof AxisError && err.code === ErrorCode.LEASE_NOT_FOUND) throw new AxisError(ErrorCode.LEASE_NOT_FOUND, `lease ${leaseHex(id)} expired or revoked`);
        if (err instanceof AxisError) throw new AxisError(err.code, `lease ${leaseHex(id)} could not be renewed: ${err.message}`);
        throw err;
      }
      console.log(flags['write-out'] === 'json' ? JSON.stringify({ id: r.id, ttl: r.ttl }) : `lease ${leaseHex(r.id)} keepalived with TTL(${r.ttl})`);
      if (flags.once || stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(100, (r.ttl * 1000) / 3));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await t.close();
  }
  return 0;
}
