#!/usr/bin/env node
/**
 * `axis`: the command line. Today it drives the embedded store in a data directory; the cluster
 * commands (serve, --endpoints) arrive with the cluster.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { open, type KeyValue, type Store, prefixEnd } from '../storage/index.js';
import { isAxisError } from '../errors/index.js';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const defaultDataDir = path.join(projectRoot, 'data', 'axis');

const usage = `usage: axis <command> [options]

commands:
  start                       open the store in the default data directory and show how to use it
  put <key> <value>           write a key
  get <key> [--prefix] [--rev N] [--limit N] [--keys-only]
                              read a key, or every key with a prefix, optionally at an old revision
  del <key> [--prefix]        delete a key, or every key with a prefix
  history <key>               every version of a key since the last compaction
  compact <revision>          drop history below a revision
  status                      revision, compaction floor, file size

options:
  --data-dir DIR              the store's directory (default: ${path.relative(process.cwd(), defaultDataDir) || defaultDataDir})
  -w, --write-out json|simple output format (default: simple)`;

interface Flags {
  'data-dir'?: string;
  prefix?: boolean;
  rev?: string;
  limit?: string;
  'keys-only'?: boolean;
  'write-out'?: string;
  help?: boolean;
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
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
  return n;
}

async function run(cmd: string, args: string[], flags: Flags, store: Store): Promise<unknown> {
  const need = (n: number) => {
    if (args.length !== n) throw new Error(`${cmd} takes ${n} argument${n === 1 ? '' : 's'}\n\n${usage}`);
  };
  switch (cmd) {
    case 'put':
      need(2);
      return store.put(args[0]!, args[1]!);
    case 'get': {
      need(1);
      const options = { revision: number(flags.rev, 'rev'), limit: number(flags.limit, 'limit'), keysOnly: flags['keys-only'] };
      if (flags.prefix) {
        const r = store.prefix(args[0]!, options);
        return { revision: r.revision, count: r.count, more: r.more, kvs: r.kvs.map(kvJson) };
      }
      const kv = store.get(args[0]!, { revision: options.revision });
      return { revision: store.status().revision, count: kv ? 1 : 0, more: false, kvs: kv ? [kvJson(kv)] : [] };
    }
    case 'del':
      need(1);
      return flags.prefix ? store.deleteRange(args[0]!, prefixEnd(args[0]!)) : store.delete(args[0]!);
    case 'history':
      need(1);
      return store.history(args[0]!).map((e) => ({ type: e.type, ...kvJson(e.kv) }));
    case 'compact':
      need(1);
      return store.compact(number(args[0], 'revision')!);
    case 'status':
      need(0);
      return store.status();
    default:
      throw new Error(`unknown command ${cmd}\n\n${usage}`);
  }
}

function print(cmd: string, result: unknown, json: boolean): void {
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
  } else {
    for (const [k, v] of Object.entries(r)) console.log(`${k}: ${String(v)}`);
  }
}

async function start(dir: string): Promise<void> {
  const store = await open(dir);
  const status = store.status();
  const rel = path.relative(process.cwd(), dir) || '.';
  console.log(`Axis (embedded) is ready in ${rel}: revision ${status.revision}, ${status.dbSize} bytes on disk.

Talk to it from the command line:
  npm run axis -- put greeting hello --data-dir ${rel}
  npm run axis -- get greeting --data-dir ${rel}
  npm run axis -- history greeting --data-dir ${rel}
  npm run axis -- status --data-dir ${rel}

or from code:
  import { open } from 'axis-kv';
  const store = await open('${rel}');
  await store.put('greeting', 'hello');
  console.log(store.get('greeting')?.value.toString());

(The replicated cluster, 'axis serve', is not built yet: see the README.)`);
  await store.close();
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string' },
      prefix: { type: 'boolean' },
      rev: { type: 'string' },
      limit: { type: 'string' },
      'keys-only': { type: 'boolean' },
      'write-out': { type: 'string', short: 'w' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const flags = values as Flags;
  const [cmd, ...args] = positionals;
  if (flags.help || cmd === undefined) {
    console.log(usage);
    return cmd === undefined && !flags.help ? 2 : 0;
  }
  const dir = path.resolve(flags['data-dir'] ?? defaultDataDir);
  if (cmd === 'start') {
    await start(dir);
    return 0;
  }
  const store = await open(dir);
  try {
    print(cmd, await run(cmd, args, flags, store), flags['write-out'] === 'json');
  } finally {
    await store.close();
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (isAxisError(err)) console.error(`axis: ${err.code}: ${err.message}`);
    else console.error(`axis: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
