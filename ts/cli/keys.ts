/**
 * `axis keys`: CURVE key files (format in ts/security/keys.ts), and the `--key-file` the cluster
 * commands pass to connect(). Public keys may be printed; secret keys never are.
 */
import { AxisError, ErrorCode } from '../errors/index.js';
import type { ConnectOptions } from '../client/index.js';
import { generateKeyPair, isZ85Key, readKeyFile, readKeyFileContent, writeKeyFile } from '../security/index.js';
import { DEFAULT_ENDPOINTS } from './serve.js';

export interface KeysFlags {
  endpoints?: string;
  'key-file'?: string;
  'client-keys'?: string;
  'peer-keys'?: string;
  out?: string;
  server?: string;
  'write-out'?: string;
}

function bad(message: string): AxisError {
  return new AxisError(ErrorCode.INVALID_ARGUMENT, message);
}

/** What a cluster command connects with: --endpoints and, with --key-file, CURVE. */
export function clusterConnectOptions(flags: KeysFlags): ConnectOptions {
  // A member's flags given to a client would be ignored, and the client would wait for a timeout.
  for (const f of ['client-keys', 'peer-keys'] as const) {
    if (flags[f] !== undefined) throw bad(`--${f} is for axis serve; a client's keys are --key-file FILE`);
  }
  const endpoints = flags.endpoints ? flags.endpoints.split(',').map((s) => s.trim()).filter(Boolean) : DEFAULT_ENDPOINTS;
  return { endpoints, timeoutMs: 10000, ...(flags['key-file'] !== undefined ? { curve: readKeyFile(flags['key-file'], 'client') } : {}) };
}

/** A public key given as itself or as the key file holding it. */
function publicKeyArg(arg: string): string {
  return isZ85Key(arg) ? arg : readKeyFileContent(arg).publicKey;
}

export function keysCommand(args: string[], flags: KeysFlags, usage: string): number {
  const [sub, ...rest] = args;
  const json = flags['write-out'] === 'json';
  switch (sub) {
    case 'generate': {
      if (rest.length !== 0 || flags.out === undefined) throw bad(`keys generate takes --out FILE [--server MEMBER_KEY_FILE]\n\n${usage}`);
      const serverKey = flags.server === undefined ? undefined : readKeyFileContent(flags.server).publicKey;
      const pair = generateKeyPair();
      writeKeyFile(flags.out, { ...pair, ...(serverKey ? { serverKey } : {}), authorized: [] }, { create: true });
      if (json) console.log(JSON.stringify({ file: flags.out, publicKey: pair.publicKey }));
      else console.log(`wrote ${flags.out} (mode 600; it holds a secret key)\npublic key: ${pair.publicKey}`);
      return 0;
    }
    case 'authorize': {
      const [file, ...keys] = rest;
      if (file === undefined || keys.length === 0) throw bad(`keys authorize takes MEMBER_KEY_FILE and public keys (or the key files holding them)\n\n${usage}`);
      const content = readKeyFileContent(file);
      if (content.serverKey !== undefined && content.serverKey !== content.publicKey) throw bad(`${file} is a client key file (it names a serverKey); authorize keys in a member's --client-keys file`);
      const authorized = [...new Set([...(content.authorized ?? []), ...keys.map(publicKeyArg)])];
      writeKeyFile(file, { ...content, authorized }, { create: false });
      if (json) console.log(JSON.stringify({ file, authorized: authorized.length }));
      else console.log(`${file} authorizes ${authorized.length} key${authorized.length === 1 ? '' : 's'}`);
      return 0;
    }
    case 'show': {
      if (rest.length !== 1) throw bad(`keys show takes a key file\n\n${usage}`);
      const { publicKey, serverKey, authorized = [] } = readKeyFileContent(rest[0]!);
      const view = { file: rest[0]!, publicKey, ...(serverKey ? { serverKey } : {}), authorized };
      if (json) console.log(JSON.stringify(view, null, 2));
      else console.log([`public key: ${publicKey}`, ...(serverKey ? [`server key: ${serverKey}`] : []), `authorized: ${authorized.length}`, ...authorized.map((k) => `  ${k}`)].join('\n'));
      return 0;
    }
    default:
      throw bad(`unknown keys subcommand ${String(sub)}: generate, authorize or show\n\n${usage}`);
  }
}
