/**
 * CURVE key files. One JSON format for every role, Z85 keys (40 characters each):
 *
 *   { "publicKey": "...", "secretKey": "...",
 *     "authorized": ["...", ...],   // member files: the client keys let in
 *     "serverKey": "..." }          // client files: the members' public key
 *
 * - peer (`axis serve --peer-keys`): one pair every member of a cluster shares; a member listens with
 *   its secret and connects to the others with it, so only holders of the file (and of any key in
 *   `authorized`) can be peers.
 * - member (`axis serve --client-keys`): the client endpoint's pair (members may share it) and the
 *   public keys of the clients allowed in (at least one).
 * - client (`connect({ curve })`, `axis --key-file`): the client's pair and the members' public key.
 *
 * Files holding a secret are written 0600 and refused when other users can read them (as ssh does).
 * A secret key never leaves a CurveKeys object except onto a socket: JSON, util.inspect and every
 * error message leave it out.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import { curveKeyPair } from 'zeromq';
import { AxisError, ErrorCode } from '../errors/index.js';
import { z85Decode, z85Encode } from './z85.js';

export type KeyRole = 'peer' | 'member' | 'client';

/** What a key file holds (and what `connect({ curve })` takes, with serverKey). */
export interface KeyFileContent {
  publicKey: string;
  secretKey: string;
  serverKey?: string;
  authorized?: string[];
}

const FIELDS = new Set(['publicKey', 'secretKey', 'serverKey', 'authorized']);

function bad(message: string): AxisError {
  return new AxisError(ErrorCode.INVALID_ARGUMENT, message);
}

/** A validated key pair with what its role needs. The secret is out of sight of JSON and inspect. */
export class CurveKeys {
  readonly #secretKey: string;

  constructor(
    readonly role: KeyRole,
    readonly publicKey: string,
    secretKey: string,
    /** The key the server side proves: the members' public key (a peer file's own). */
    readonly serverKey: string,
    /** Public keys the server side lets in (a peer file's own key included). */
    readonly authorized: readonly string[],
  ) {
    this.#secretKey = secretKey;
  }

  /** For a socket option, nothing else. */
  secretKey(): string {
    return this.#secretKey;
  }

  toJSON(): object {
    return { role: this.role, publicKey: this.publicKey, secretKey: '[redacted]', serverKey: this.serverKey, authorized: this.authorized };
  }

  [inspect.custom](): string {
    return `CurveKeys ${inspect(this.toJSON())}`;
  }
}

/** A member's client-endpoint keys as a client of another member's client endpoint (members share the pair). */
export function memberAsClient(keys: CurveKeys): CurveKeys {
  if (keys.role !== 'member') throw bad('memberAsClient needs a member\'s client-endpoint keys');
  return new CurveKeys('client', keys.publicKey, keys.secretKey(), keys.publicKey, []);
}

/** Whether `key` is a 32-byte key in Z85. */
export function isZ85Key(key: unknown): key is string {
  return typeof key === 'string' && key.length === 40 && z85Decode(key) !== undefined;
}

/** The public key of a Z85 secret key (X25519, what CURVE uses). */
function publicKeyOf(secretKey: string): string {
  const der = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), z85Decode(secretKey)!]);
  const jwk = crypto.createPublicKey(crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' });
  return z85Encode(Buffer.from(jwk.x!, 'base64url'));
}

/** Checks what any key file must be: the fields, each key Z85, the secret the public key's. No key is ever quoted. */
export function keyFileContent(input: unknown, source: string): KeyFileContent {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw bad(`${source}: keys must be a JSON object`);
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!FIELDS.has(k)) throw bad(`${source}: unknown field ${JSON.stringify(k)} (fields: ${[...FIELDS].join(', ')})`);
  for (const k of ['publicKey', 'secretKey'] as const) {
    if (!isZ85Key(o[k])) throw bad(`${source}: ${k} must be a 40-character Z85 key (as axis keys generate writes)`);
  }
  const publicKey = o.publicKey as string;
  const secretKey = o.secretKey as string;
  if (publicKeyOf(secretKey) !== publicKey) throw bad(`${source}: secretKey is not the secret of publicKey`);
  if (o.serverKey !== undefined && !isZ85Key(o.serverKey)) throw bad(`${source}: serverKey must be a 40-character Z85 key`);
  const authorized = o.authorized ?? [];
  if (!Array.isArray(authorized)) throw bad(`${source}: authorized must be a list of public keys`);
  authorized.forEach((k, i) => {
    if (!isZ85Key(k)) throw bad(`${source}: authorized[${i}] must be a 40-character Z85 public key`);
    if (k === secretKey) throw bad(`${source}: authorized[${i}] is the secret key; list public keys only`);
  });
  return { publicKey, secretKey, ...(o.serverKey !== undefined ? { serverKey: o.serverKey as string } : {}), authorized: authorized as string[] };
}

/** Checks a parsed key file (or connect()'s `curve` option) for `role`. `source` names it in errors. */
export function curveKeys(input: unknown, role: KeyRole, source: string): CurveKeys {
  if (input instanceof CurveKeys) {
    if (input.role !== role) throw bad(`${source}: ${input.role} keys where ${role} keys are needed`);
    return input;
  }
  const { publicKey, secretKey, serverKey, authorized = [] } = keyFileContent(input, source);
  switch (role) {
    case 'peer':
      if (serverKey !== undefined && serverKey !== publicKey) throw bad(`${source}: a peer key file is shared by every member; its serverKey can only be its own publicKey`);
      return new CurveKeys(role, publicKey, secretKey, publicKey, [...new Set([publicKey, ...authorized])]);
    case 'member':
      if (authorized.length === 0) throw bad(`${source}: no client key is authorized, so no client could connect (add some with axis keys authorize)`);
      // The members themselves too: they read each other's client port (snapshots, hash checks) with this pair.
      return new CurveKeys(role, publicKey, secretKey, publicKey, [...new Set([publicKey, ...authorized])]);
    case 'client':
      if (serverKey === undefined) throw bad(`${source}: a client key file needs serverKey, the members' public key (axis keys generate --server FILE)`);
      return new CurveKeys(role, publicKey, secretKey, serverKey, []);
  }
}

/** Reads and checks a key file for `role`; AXIS_INVALID_ARGUMENT saying what is wrong (never quoting a key). */
export function readKeyFile(file: string, role: KeyRole): CurveKeys {
  return curveKeys(readKeyFileJson(file), role, `key file ${file}`);
}

/** A key file's JSON, refusing one that other users can read. */
export function readKeyFileContent(file: string): KeyFileContent {
  return keyFileContent(readKeyFileJson(file), `key file ${file}`);
}

function readKeyFileJson(file: string): unknown {
  let text: string;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new Error('not a file');
    if ((st.mode & 0o077) !== 0) {
      throw bad(`key file ${file} can be read by other users (mode ${(st.mode & 0o777).toString(8)}); it holds a secret key: chmod 600 ${file}`);
    }
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof AxisError) throw err;
    throw bad(`cannot read key file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Not the parser's message: it quotes the text around the error, which may be a secret.
    throw bad(`key file ${file} is not valid JSON`);
  }
}

/**
 * Writes a key file with mode 0600: to a temporary file first, then renamed over `file`, so a
 * failure leaves what was there. `create` refuses to replace an existing file.
 */
export function writeKeyFile(file: string, content: KeyFileContent, options: { create: boolean }): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.writeFileSync(fd, `${JSON.stringify(content, null, 2)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // link() fails on an existing file; rename() replaces it. Either way the file appears whole.
    if (options.create) fs.linkSync(tmp, file);
    else fs.renameSync(tmp, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw bad(code === 'EEXIST' && options.create ? `${file} exists; not overwriting a key file` : `cannot write key file ${file}: ${code ?? (err as Error).message}`);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** A fresh CURVE key pair. */
export function generateKeyPair(): { publicKey: string; secretKey: string } {
  return curveKeyPair();
}
