/** The result rows, printed as a terminal table and as Markdown, and saved as JSON. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type Unit = 'ops/s' | 'keys/s' | 'µs' | 'ms' | 's' | 'MB';

export interface Target {
  /** The ratio (or, with `of: 'value'`, Axis's own number) must be at least (>=) or at most (<=) `value`. */
  cmp: '>=' | '<=';
  value: number;
  /** What the target is on: the ratio to the baseline (default) or the Axis figure itself (in the row's unit). */
  of?: 'ratio' | 'value';
}

export interface Row {
  /** Figure number, with a letter for extra rows ("3b"). */
  id: string;
  /** The --only name of the figure the row belongs to. */
  figure: string;
  title: string;
  unit: Unit;
  axis: number;
  /** lmdb-js's number (or, for figure 6, the empty store's). */
  baseline?: number;
  baselineLabel?: string;
  /** axis / baseline. */
  ratio?: number;
  target?: Target;
  /** Whether the ratio meets the target; undefined when the row has no target. */
  ok?: boolean;
  /** How the numbers were taken (rounds, samples, margin of error...). */
  method: string;
  /** Everything else measured for the row, for the JSON file. */
  data?: Record<string, unknown>;
}

export function row(r: Omit<Row, 'ratio' | 'ok'>): Row {
  const ratio = r.baseline === undefined || r.baseline === 0 ? undefined : r.axis / r.baseline;
  let ok: boolean | undefined;
  const measured = r.target?.of === 'value' ? r.axis : ratio;
  if (r.target && measured !== undefined && Number.isFinite(measured)) ok = r.target.cmp === '>=' ? measured >= r.target.value : measured <= r.target.value;
  return { ...r, ratio, ok };
}

function group(n: number, digits: number): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatValue(v: number | undefined, unit: Unit): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  switch (unit) {
    case 'ops/s':
    case 'keys/s':
      return `${group(v, 0)} ${unit}`;
    case 'µs':
      return `${group(v, 1)} µs`;
    case 'ms':
      return `${group(v, v < 10 ? 3 : 1)} ms`;
    case 's':
      return `${group(v, 2)} s`;
    case 'MB':
      return `${group(v, 1)} MB`;
  }
}

/** A latency in µs with three significant digits, in µs, ms or s. */
export function formatUs(us: number | undefined): string {
  if (us === undefined || !Number.isFinite(us)) return '—';
  if (us < 1000) return `${+us.toPrecision(3)} µs`;
  if (us < 1e6) return `${+(us / 1000).toPrecision(3)} ms`;
  return `${+(us / 1e6).toPrecision(3)} s`;
}

function cells(r: Row): string[] {
  const target = !r.target ? '—' : r.target.of === 'value' ? `${r.target.cmp} ${formatValue(r.target.value, r.unit)}` : `${r.target.cmp} ${r.target.value.toFixed(2)}`;
  const absolute = r.target?.of === 'value';
  const status = r.ok === undefined ? (r.target ? '?' : 'info') : r.ok ? (absolute ? 'met' : 'ok') : 'NOT MET';
  return [
    r.id,
    r.title,
    formatValue(r.axis, r.unit),
    r.baseline === undefined ? '—' : formatValue(r.baseline, r.unit),
    r.ratio === undefined ? '—' : r.ratio.toFixed(2),
    target,
    status,
  ];
}

const HEADER = ['#', 'figure', 'Axis', 'baseline (lmdb-js, etcd, ...)', 'ratio', 'target', ''];

export function terminalTable(rows: Row[]): string {
  const table = [HEADER, ...rows.map(cells)];
  const widths = HEADER.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  const right = new Set([2, 3, 4]);
  const line = (r: string[]): string =>
    r.map((cell, c) => (right.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(HEADER), rule, ...rows.map((r) => line(cells(r)))].join('\n');
}

export function markdownTable(rows: Row[]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const out = [
    `| ${HEADER.map(esc).join(' | ')} |`,
    '| --- | --- | ---: | ---: | ---: | --- | --- |',
  ];
  for (const r of rows) out.push(`| ${cells(r).map(esc).join(' | ')} |`);
  return out.join('\n');
}

export function methods(rows: Row[]): string {
  return rows.map((r) => `${r.id.padEnd(3)} ${r.method}`).join('\n');
}

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  platform: string;
  release: string;
  arch: string;
  totalMemoryGB: number;
  tmpdir: string;
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    platform: os.platform(),
    release: os.release(),
    arch: os.arch(),
    totalMemoryGB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    tmpdir: os.tmpdir(),
  };
}

/** Local date, YYYY-MM-DD. */
export function today(): string {
  const d = new Date();
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

export function writeJson(file: string, data: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(data, null, 2) + '\n');
}
