#!/usr/bin/env node
/**
 * `axis`: the command line. `serve` runs a cluster member; `start` runs a local 3-member cluster;
 * the data commands talk to a cluster (--endpoints) or, with --data-dir, to an embedded store.
 */
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect, type Client } from '../client/index.js';
import { AxisError, ErrorCode, isAxisError } from '../errors/index.js';
import { open, type KV, type KeyValue, type Store, prefixEnd } from '../storage/index.js';
import { parseTxn } from './txn.js';
import { leaseCommand, parseLeaseId } from './lease.js';
import { DEFAULT_ENDPOINTS, runLocalCluster, runServe } from './serve.js';
import { electCommand, lockCommand } from './recipes.js';
import { clusterConnectOptions, keysCommand } from './keys.js';
import { alarmCommand, hashKvCommand, memberCommand, moveLeaderCommand, snapshotCommand } from './cluster-ops.js';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const usage = `usage: axis <command> [options]

cluster:
  start                       run a local 3-member cluster on 127.0.0.1 with data under ./data (Ctrl-C stops it)
  serve --name N --data-dir D --peer-listen URL --client-listen URL --initial-cluster n1=URL,n2=URL,...
        [--config FILE] [--tick-ms 100] [--election-ticks 10]
        [--peer-keys FILE] [--client-keys FILE] [--insecure-listen]
                              run one member (a JSON config file may give the same settings).
                              Without keys it listens on loopback only (AXIS_INSECURE_LISTEN
                              otherwise, unless --insecure-listen)
        [--metrics-listen http://127.0.0.1:2381] [--log-level info]
                              Prometheus /metrics and /health over HTTP; JSON log lines on stderr

        [--initial-cluster-state new|existing --cluster-id HEX]
        [--snapshot-count 100000] [--snapshot-catchup-entries 5000]
                              the Raft log keeps catch-up entries once it passes count + catch-up
        [--quota-backend-bytes 2147483648] [--corrupt-check-interval-ms 300000 (0: off)]
        [--auto-compaction-mode revision|periodic --auto-compaction-retention N|1h]
                              a NOSPACE alarm past the quota; hash checks; automatic compaction
                              joining a running cluster: add the member first (axis member add)
  member list                 every member: id, name, peer and client URLs, learner or not
  member add NAME --peer-urls URL [--client-urls URL] [--learner]
                              add a member (prints how to start it); a learner votes once promoted
  member remove ID            remove a member (the leader hands over leadership first)
  member promote ID           make a learner a voter, once it has caught up
  member update ID [--peer-urls URL] [--client-urls URL]
                              change a member's addresses
  move-leader ID              hand leadership to another voter
  alarm list                  the active alarms (NOSPACE: a member passed its quota; CORRUPT)
  alarm disarm [--type NOSPACE|CORRUPT] [--member ID]
                              clear alarms (all without --type or --member)
  hashkv [--rev N]            every member's hash of the key space at a revision (they must agree)
  snapshot save FILE          copy one member's store (--endpoints: exactly one) into FILE
  snapshot restore FILE --data-dir DIR --name N --initial-cluster n1=URL,...
                              seed member N of a new cluster from a saved snapshot

keys (CURVE, for --peer-keys, --client-keys and --key-file):
  keys generate --out FILE [--server MEMBER_KEY_FILE]
                              a new key pair in FILE (mode 600); --server makes it a client's,
                              naming the members' public key
  keys authorize MEMBER_KEY_FILE KEY...
                              let clients in: their public keys, or the key files holding them
  keys show FILE              the public keys in a key file (never the secret)

data (against --endpoints, or an embedded store with --data-dir):
  put <key> <value> [--lease ID]
                              write a key (attached to a lease: its hex id, as lease grant prints it)
  get <key> [--prefix] [--rev N] [--limit N] [--keys-only] [--serializable]
                              read a key, or every key with a prefix, optionally at an old revision
  del <key> [--prefix]        delete a key, or every key with a prefix
  txn                         a transaction read from stdin, as etcdctl's: compares, empty line,
                              success ops, empty line, failure ops (e.g. value("k") = "v" / put k v / get k / del k)
  history <key>               every version of a key since the last compaction
  compact <revision>          drop history below a revision
  status                      members, leader, term, applied index, revision, db size
  watch <key> [--prefix] [--rev N] [--prev-kv]
                              print every change from now (or revision N) on, until Ctrl-C
  lock <name> [--ttl S] [-- COMMAND ...]
                              take the lock, run COMMAND holding it (AXIS_LOCK_REVISION: the fencing
                              token), release it when COMMAND exits; without one, hold it until Ctrl-C
  elect <name> [PROPOSAL] [--ttl S]
                              campaign with PROPOSAL and lead until Ctrl-C; without one, print the
                              leader and every change

leases (ids in hex, as etcdctl's; against --endpoints or --data-dir):
  lease grant <ttl>           grant a lease of <ttl> seconds; prints its id
  lease revoke <id>           revoke a lease, deleting its keys
  lease timetolive <id> [--keys]
                              its granted and remaining TTL (and attached keys)
  lease list                  every lease's id
  lease keep-alive <id> [--once]
                              renew every third of the TTL until Ctrl-C (--once: renew once), printing
                              each renewal; exits 1 if the lease is lost. With --data-dir the store stays
                              open meanwhile (its lessor runs only while a process has it open)

options:
  --endpoints URL,URL         cluster members (default ${DEFAULT_ENDPOINTS.join(',')})
  --data-dir DIR              use the embedded store in DIR instead of a cluster
  --key-file FILE             this client's CURVE keys (axis keys generate --server ...)
  -w, --write-out json|simple output format (default: simple)`;

export interface Flags {
  endpoints?: string;
  'data-dir'?: string;
  prefix?: boolean;
  rev?: string;
  limit?: string;
  'keys-only'?: boolean;
  serializable?: boolean;
  'prev-kv'?: boolean;
  'write-out'?: string;
  help?: boolean;
  name?: string;
  'peer-listen'?: string;
  'client-listen'?: string;
  'initial-cluster'?: string;
  config?: string;
  'tick-ms'?: string;
  'election-ticks'?: string;
  durability?: string;
  lease?: string;
  keys?: boolean;
  once?: boolean;
  ttl?: string;
  'peer-keys'?: string;
  'client-keys'?: string;
  'insecure-listen'?: boolean;
  'key-file'?: string;
  out?: string;
  server?: string;
  'initial-cluster-state'?: string;
  'cluster-id'?: string;
  'snapshot-count'?: string;
  'snapshot-catchup-entries'?: string;
  'peer-urls'?: string;
  'client-urls'?: string;
  learner?: boolean;
  type?: string;
  member?: string;
  'quota-backend-bytes'?: string;
  'auto-compaction-mode'?: string;
  'auto-compaction-retention'?: string;
  'corrupt-check-interval-ms'?: string;
  'metrics-listen'?: string;
  'log-level'?: string;
}

function kvJson(kv: KeyValue): object {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  };
}

function number(flag: string | undefined, name: string): number | undefined {
  if (flag === undefined) return undefined;
  const n = Number(flag);
  if (!Number.isSafeInteger(n) || n < 0) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `--${name} must be a non-negative integer`);
  return n;
}

async function readStdinLines(): Promise<string[]> {
  const tty = process.stdin.isTTY;
  const prompts = ['compares:', 'success requests (get, put, del):', 'failure requests (get, put, del):'];
  if (tty) console.log(prompts[0]);
  const lines: string[] = [];
  let blanks = 0;
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    lines.push(line);
    if (line.trim() === '') {
      blanks++;
      if (tty && blanks < 3) console.log(`\n${prompts[blanks]}`);
      if (blanks >= 3) break;
    }
  }
  rl.close();
  return lines;
}

type Target = { kind: 'store'; kv: Store } | { kind: 'cluster'; kv: Client };

async function run(cmd: string, args: string[], flags: Flags, t: Target): Promise<unknown> {
  const kv: KV = t.kv;
  const need = (n: number) => {
    if (args.length !== n) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `${cmd} takes ${n} argument${n === 1 ? '' : 's'}\n\n${usage}`);
  };
  const serializable = flags.serializable ? { serializable: true } : {};
  switch (cmd) {
    case 'put': {
      need(2);
      const lease = flags.lease === undefined ? undefined : parseLeaseId(flags.lease, '--lease');
      return kv.put(args[0]!, args[1]!, lease ? { lease } : undefined);
    }
    case 'get': {
      need(1);
      const options = { revision: number(flags.rev, 'rev'), limit: number(flags.limit, 'limit'), keysOnly: flags['keys-only'], ...serializable };
      const r = flags.prefix ? await kv.prefix(args[0]!, options) : await kv.range(args[0]!, Buffer.concat([Buffer.from(args[0]!), Buffer.from([0])]), options);
      return { revision: r.revision, count: r.count, more: r.more, kvs: r.kvs.map(kvJson) };
    }
    case 'del':
      need(1);
      return flags.prefix ? kv.deleteRange(args[0]!, prefixEnd(args[0]!)) : kv.delete(args[0]!);
    case 'txn': {
      need(0);
      const r = await kv.txn(parseTxn(await readStdinLines()));
      return {
        succeeded: r.succeeded,
        revision: r.revision,
        responses: r.responses.map((op) =>
          'range' in op ? { range: { ...op.range, kvs: op.range.kvs.map(kvJson) } } : op,
        ),
      };
    }
    case 'history':
      need(1);
      return (await kv.history(args[0]!)).map((e) => ({ type: e.type, ...kvJson(e.kv) }));
    case 'compact':
      need(1);
      return kv.compact(number(args[0], 'revision')!);
    case 'status':
      need(0);
      return t.kind === 'store' ? t.kv.status() : t.kv.status();
    default:
      throw new AxisError(ErrorCode.INVALID_ARGUMENT, `unknown command ${cmd}\n\n${usage}`);
  }
}

function print(cmd: string, result: unknown, json: boolean, t: Target): void {
  if (json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  const r = result as Record<string, unknown>;
  if (cmd === 'get') {
    for (const kv of r.kvs as { key: string; value: string }[]) console.log(`${kv.key}\n${kv.value}`);
  } else if (cmd === 'history') {
    for (const e of result as { type: string; key: string; value: string; modRevision: number }[]) {
      console.log(`${e.modRevision}\t${e.type}\t${e.type === 'put' ? e.value : ''}`);
    }
  } else if (cmd === 'put') {
    console.log(`OK (revision ${r.revision})`);
  } else if (cmd === 'del') {
    console.log(String(r.deleted));
  } else if (cmd === 'txn') {
    console.log(r.succeeded ? 'SUCCESS' : 'FAILURE');
    for (const op of r.responses as Record<string, { kvs?: { key: string; value: string }[]; deleted?: number }>[]) {
      if (op.put) console.log('\nOK');
      else if (op.deleteRange) console.log(`\n${op.deleteRange.deleted}`);
      else if (op.range) for (const kv of op.range.kvs ?? []) console.log(`\n${kv.key}\n${kv.value}`);
      else console.log('\n(nested txn)');
    }
  } else if (cmd === 'status' && t.kind === 'cluster') {
    const rows = result as Awaited<ReturnType<Client['status']>>;
    console.log('ENDPOINT\tNAME\tID\tVERSION\tLEADER\tROLE\tLEARNER\tTERM\tRAFT INDEX\tAPPLIED\tREVISION\tDB SIZE\tIN USE\tALARMS');
    for (const s of rows) {
      const leader = s.members.find((m) => m.id === s.leader)?.name ?? (s.leader ? String(s.leader) : '-');
      const alarmText = s.alarms.map((a) => `${a.type}:${a.member.toString(16)}`).join(',') || '-';
      console.log([s.endpoint, s.member.name, s.member.id.toString(16), s.version, leader, s.role, s.learner, s.raftTerm, s.raftIndex, s.appliedIndex, s.revision, s.dbSize, s.dbSizeInUse, alarmText].join('\t'));
    }
    if (rows.length === 0) console.log('(no member answered)');
  } else {
    for (const [k, v] of Object.entries(r)) console.log(`${k}: ${String(v)}`);
  }
}

/** `axis watch`: prints each change as it comes (etcdctl's format, or one JSON response per line). */
async function watchCommand(args: string[], flags: Flags): Promise<number> {
  if (args.length !== 1) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `watch takes 1 argument\n\n${usage}`);
  if (flags['data-dir'] !== undefined) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'watch needs a cluster (--endpoints), not --data-dir');
  const client = await connect(clusterConnectOptions(flags));
  const rev = number(flags.rev, 'rev');
  const w = client.watch(args[0]!, { ...(flags.prefix ? { prefix: true } : {}), ...(rev ? { startRevision: rev } : {}), ...(flags['prev-kv'] ? { prevKv: true } : {}) });
  const stop = () => {
    w.cancel();
    void client.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  for await (const r of w) {
    if (flags['write-out'] === 'json') {
      console.log(JSON.stringify({ revision: r.revision, canceled: r.canceled, compactRevision: r.compactRevision, events: r.events.map((e) => ({ type: e.type, kv: kvJson(e.kv), ...((e as { prevKv?: KeyValue }).prevKv ? { prevKv: kvJson((e as { prevKv: KeyValue }).prevKv) } : {}) })) }));
      continue;
    }
    for (const e of r.events) {
      const prev = (e as { prevKv?: KeyValue }).prevKv;
      console.log(e.type === 'put' ? 'PUT' : 'DELETE');
      if (prev) console.log(`${prev.key.toString()}\n${prev.value.toString()}`);
      console.log(e.kv.key.toString());
      if (e.type === 'put') console.log(e.kv.value.toString());
    }
    if (r.canceled) {
      console.error(`axis: the watch was cancelled${r.compactRevision ? `: revision ${r.compactRevision} is compacted; watch from it or later` : ''}`);
      await client.close();
      return 1;
    }
  }
  if (w.error) throw w.error;
  await client.close();
  return 0;
}

async function main(): Promise<number> {
  // `axis lock NAME -- COMMAND ...`: what follows `--` is the command, not ours to parse.
  const argv = process.argv.slice(2);
  const dashes = argv.indexOf('--');
  const command = dashes >= 0 ? argv.slice(dashes + 1) : [];
  const { values, positionals } = parseArgs({
    args: dashes >= 0 ? argv.slice(0, dashes) : argv,
    allowPositionals: true,
    options: {
      endpoints: { type: 'string' },
      'data-dir': { type: 'string' },
      prefix: { type: 'boolean' },
      rev: { type: 'string' },
      limit: { type: 'string' },
      'keys-only': { type: 'boolean' },
      serializable: { type: 'boolean' },
      'prev-kv': { type: 'boolean' },
      'write-out': { type: 'string', short: 'w' },
      help: { type: 'boolean', short: 'h' },
      name: { type: 'string' },
      'peer-listen': { type: 'string' },
      'client-listen': { type: 'string' },
      'initial-cluster': { type: 'string' },
      config: { type: 'string' },
      'tick-ms': { type: 'string' },
      'election-ticks': { type: 'string' },
      durability: { type: 'string' },
      lease: { type: 'string' },
      keys: { type: 'boolean' },
      once: { type: 'boolean' },
      ttl: { type: 'string' },
      'peer-keys': { type: 'string' },
      'client-keys': { type: 'string' },
      'insecure-listen': { type: 'boolean' },
      'key-file': { type: 'string' },
      out: { type: 'string' },
      server: { type: 'string' },
      'initial-cluster-state': { type: 'string' },
      'cluster-id': { type: 'string' },
      'snapshot-count': { type: 'string' },
      'snapshot-catchup-entries': { type: 'string' },
      'peer-urls': { type: 'string' },
      'client-urls': { type: 'string' },
      learner: { type: 'boolean' },
      type: { type: 'string' },
      member: { type: 'string' },
      'quota-backend-bytes': { type: 'string' },
      'auto-compaction-mode': { type: 'string' },
      'auto-compaction-retention': { type: 'string' },
      'corrupt-check-interval-ms': { type: 'string' },
      'metrics-listen': { type: 'string' },
      'log-level': { type: 'string' },
    },
  });
  const flags = values as Flags;
  const [cmd, ...args] = positionals;
  if (flags.help || cmd === undefined) {
    console.log(usage);
    return cmd === undefined && !flags.help ? 2 : 0;
  }
  if (flags['write-out'] !== undefined && flags['write-out'] !== 'json' && flags['write-out'] !== 'simple') {
    throw new AxisError(ErrorCode.INVALID_ARGUMENT, '--write-out is json or simple');
  }
  if (cmd === 'serve') return runServe(flags);
  if (cmd === 'keys') return keysCommand(args, flags, usage);
  if (cmd === 'member') return memberCommand(args, flags, usage);
  if (cmd === 'move-leader') return moveLeaderCommand(args, flags);
  if (cmd === 'snapshot') return snapshotCommand(args, flags, usage);
  if (cmd === 'alarm') return alarmCommand(args, flags, usage);
  if (cmd === 'hashkv') return hashKvCommand(args, flags);
  if (cmd === 'watch') return watchCommand(args, flags);
  if (cmd === 'lease') return leaseCommand(args, flags, usage);
  if (cmd === 'lock') return lockCommand(args, command, flags);
  if (cmd === 'elect') return electCommand(args, flags);
  if (command.length > 0) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `${cmd} takes nothing after --`);
  if (cmd === 'start') return runLocalCluster(path.join(projectRoot, 'data'));
  let t: Target;
  if (flags['data-dir'] !== undefined) {
    t = { kind: 'store', kv: await open(path.resolve(flags['data-dir'])) };
  } else {
    t = { kind: 'cluster', kv: await connect(clusterConnectOptions(flags)) };
  }
  try {
    print(cmd, await run(cmd, args, flags, t), flags['write-out'] === 'json', t);
  } finally {
    await t.kv.close();
  }
  return 0;
}

main().then(
  (code) => {
    if (code !== -1) process.exit(code);
  },
  (err: unknown) => {
    if (isAxisError(err)) console.error(`axis: ${err.code}: ${err.message}`);
    else console.error(`axis: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
