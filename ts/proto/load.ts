/**
 * Loads the wire schemas (`ts/proto/*.proto`) with protobufjs at run time.
 *
 * The .proto files stay in the source tree: `tsc` does not copy them to dist/, so a module compiled to
 * dist/ts/proto/ looks for them next to itself first (running from source, or a build that copied
 * them) and then back in the source tree (dist/ts/proto -> ../../../ts/proto). Either way a fresh
 * clone works with nothing but `tsc -p .`.
 *
 * 64-bit fields: every id, term, index and revision in Axis fits in 2^53, so protobufjs is configured
 * once, here, to hand back plain numbers instead of Long objects (faster, and the types stay the
 * ones ts/raft and ts/storage use). Decoders that care must still check Number.isSafeInteger on
 * values that came from the network.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

// Numbers, not Longs: must run before any schema is parsed (field defaults are fixed at resolve time).
(protobuf.util as { Long: unknown }).Long = undefined;
protobuf.configure();

const roots = new Map<string, protobuf.Root>();

/** Where `fileName` (e.g. 'raft.proto') is found: next to this module, or in the source tree. */
export function protoPath(fileName: string): string {
  const candidates = [new URL(`./${fileName}`, import.meta.url), new URL(`../../../ts/proto/${fileName}`, import.meta.url)];
  for (const url of candidates) {
    const path = fileURLToPath(url);
    if (existsSync(path)) return path;
  }
  throw new Error(`axis: cannot find ${fileName} (looked in ${candidates.map((u) => fileURLToPath(u)).join(', ')})`);
}

/** The parsed schema of `fileName`, loaded once per process (synchronously; field names camelCased). */
export function loadProto(fileName: string): protobuf.Root {
  let root = roots.get(fileName);
  if (!root) {
    root = new protobuf.Root().loadSync(protoPath(fileName));
    root.resolveAll();
    roots.set(fileName, root);
  }
  return root;
}
