/**
 * `axis txn`: etcdctl's interactive transaction syntax. Three blocks separated by empty lines:
 * compares, then success ops, then failure ops.
 *
 *   value("key1") = "val1"          mod("key2") > "3"       (value, version, create, mod, lease; = != < >)
 *
 *   put key1 "overwrote-key1"       get key [end]           del key [end]
 */
import { AxisError, ErrorCode } from '../errors/index.js';
import type { Compare, CompareResult, CompareTarget, RequestOp, TxnRequest } from '../storage/types.js';

const TARGETS: Record<string, CompareTarget> = { value: 'value', version: 'version', create: 'createRevision', mod: 'modRevision', lease: 'lease' };
const RESULTS = new Set(['=', '!=', '<', '>']);

function bad(line: string, why: string): AxisError {
  return new AxisError(ErrorCode.INVALID_ARGUMENT, `txn: ${why}: ${line}`);
}

/** Splits a line into words; "double quoted" words may hold spaces and \" \\ \n escapes. */
export function words(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (/\s/.test(line[i]!)) {
      i++;
      continue;
    }
    if (line[i] === '"') {
      let w = '';
      i++;
      for (;;) {
        if (i >= line.length) throw bad(line, 'unterminated quote');
        const c = line[i++]!;
        if (c === '"') break;
        if (c === '\\' && i < line.length) {
          const n = line[i++]!;
          w += n === 'n' ? '\n' : n === 't' ? '\t' : n;
        } else w += c;
      }
      out.push(w);
    } else {
      let w = '';
      while (i < line.length && !/\s/.test(line[i]!)) w += line[i++]!;
      out.push(w);
    }
  }
  return out;
}

export function parseCompare(line: string): Compare {
  const m = /^\s*(\w+)\(\s*("(?:[^"\\]|\\.)*"|[^)\s]+)\s*\)\s*(!=|=|<|>)\s*(.+?)\s*$/.exec(line);
  if (!m) throw bad(line, 'a compare looks like value("key") = "v" or mod("key") > "3"');
  const target = TARGETS[m[1]!];
  if (!target) throw bad(line, `unknown compare target ${m[1]} (value, version, create, mod, lease)`);
  const key = words(m[2]!)[0] ?? '';
  const result = m[3]! as CompareResult;
  if (!RESULTS.has(result)) throw bad(line, 'compare with = != < >');
  const raw = words(m[4]!);
  if (raw.length !== 1) throw bad(line, 'one value to compare with');
  if (target === 'value') return { key, target, result, value: raw[0]! };
  const n = Number(raw[0]);
  if (!Number.isSafeInteger(n) || n < 0) throw bad(line, `${m[1]} compares with a non-negative integer`);
  return { key, target, result, value: n };
}

export function parseOp(line: string): RequestOp {
  const w = words(line);
  const [op, key, arg] = w;
  if (op === 'put') {
    if (w.length !== 3) throw bad(line, 'put takes a key and a value');
    return { put: { key: key!, value: arg! } };
  }
  if (op === 'get' || op === 'del') {
    if (w.length < 2 || w.length > 3) throw bad(line, `${op} takes a key and an optional range end`);
    const r = { key: key!, ...(arg !== undefined ? { rangeEnd: arg } : {}) };
    return op === 'get' ? { range: r } : { deleteRange: r };
  }
  throw bad(line, 'ops are put, get and del');
}

/** Parses the three blocks from the lines of stdin. */
export function parseTxn(lines: string[]): TxnRequest {
  const blocks: string[][] = [[]];
  for (const l of lines) {
    if (l.trim() === '') {
      if (blocks.length < 3) blocks.push([]);
      continue;
    }
    blocks[blocks.length - 1]!.push(l);
  }
  return {
    compare: (blocks[0] ?? []).map(parseCompare),
    success: (blocks[1] ?? []).map(parseOp),
    failure: (blocks[2] ?? []).map(parseOp),
  };
}
