/**
 * The HTML report: one self-contained page (inline CSS and SVG drawn here, no script, nothing
 * fetched) with the tables, a latency distribution per workload (Axis beside the alternatives),
 * the in-flight sweep as throughput against p99 per system, the stored-history sweep and the
 * physical floor.
 */
import { threeMemberPutFloor, type FloorReport } from './floor.js';
import type { HistoryReport } from './history.js';
import { formatUs as fmtUs, formatValue, type Machine, type Row } from './report.js';
import { SYSTEM_IDS, SYSTEM_LABELS, type SystemId } from './systems.js';
import { WORKLOADS, findResult, type WorkloadsReport } from './workloads.js';

const COLORS: Record<SystemId, string> = {
  'axis-embedded': '#1f77b4',
  'lmdb-js': '#7f7f7f',
  'axis-1': '#2ca02c',
  'axis-3': '#d62728',
  'etcd-3': '#ff7f0e',
};

interface Series {
  name: string;
  color: string;
  points: [number, number][];
  /** A label at each point (e.g. the in-flight count). */
  labels?: string[];
  dashed?: boolean;
}

interface Axis {
  label: string;
  log?: boolean;
  /** Custom ticks [value, label] (in data units); default: decades or a linear spread. */
  ticks?: [number, string][];
  /** Maps a data value to the plotted coordinate (before log/linear scaling). */
  transform?: (v: number) => number;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceNumber(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

/** Ticks at 1, 2, 5 × powers of ten within [lo, hi]. */
function logTicks(lo: number, hi: number, fmt: (v: number) => string): [number, string][] {
  const out: [number, string][] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push([v, fmt(v)]);
    }
  }
  return out;
}

function linearTicks(lo: number, hi: number, fmt: (v: number) => string): [number, string][] {
  const span = hi - lo || 1;
  const step = 10 ** Math.floor(Math.log10(span / 4));
  const k = [1, 2, 5, 10].find((m) => span / (m * step) <= 6) ?? 10;
  const s = k * step;
  const out: [number, string][] = [];
  for (let v = Math.ceil(lo / s) * s; v <= hi + 1e-9; v += s) out.push([v, fmt(v)]);
  return out;
}

/** An SVG line chart. */
function lineChart(title: string, x: Axis, y: Axis & { fmt?: (v: number) => string }, series: Series[], note = ''): string {
  const W = 620;
  const H = 320;
  const m = { l: 70, r: 210, t: 30, b: 46 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const tx = x.transform ?? ((v: number) => v);
  const ty = y.transform ?? ((v: number) => v);
  const pts = series.flatMap((s) => s.points).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b) && (!x.log || tx(a) > 0) && (!y.log || ty(b) > 0));
  if (pts.length === 0) return `<figure><figcaption>${esc(title)}</figcaption><p class="none">nothing measured</p></figure>`;
  const range = (vals: number[], log?: boolean): [number, number] => {
    let lo = Math.min(...vals);
    let hi = Math.max(...vals);
    if (log) {
      lo /= 1.3;
      hi *= 1.3;
    } else {
      const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1;
      lo = Math.min(0, lo - pad);
      hi += pad;
    }
    return [lo, hi];
  };
  const [x0, x1] = x.ticks ? [Math.min(...x.ticks.map((t) => tx(t[0]))), Math.max(...x.ticks.map((t) => tx(t[0])))] : range(pts.map((p) => tx(p[0])), x.log);
  const [y0, y1] = range(pts.map((p) => ty(p[1])), y.log);
  const sx = (v: number): number => m.l + (x.log ? (Math.log10(v) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0)) : (v - x0) / (x1 - x0)) * pw;
  const sy = (v: number): number => m.t + ph - (y.log ? (Math.log10(v) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0)) : (v - y0) / (y1 - y0)) * ph;
  const fmtY = y.fmt ?? niceNumber;
  const xt = x.ticks ?? (x.log ? logTicks(x0, x1, niceNumber) : linearTicks(x0, x1, niceNumber));
  const yt = y.ticks ?? (y.log ? logTicks(y0, y1, fmtY) : linearTicks(y0, y1, fmtY));
  const parts: string[] = [];
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="#fcfcfc" stroke="#ccc"/>`);
  for (const [v, l] of yt) {
    const yy = sy(ty(v));
    if (yy < m.t - 1 || yy > m.t + ph + 1) continue;
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${yy.toFixed(1)}" y2="${yy.toFixed(1)}" stroke="#e6e6e6"/><text x="${m.l - 6}" y="${(yy + 4).toFixed(1)}" text-anchor="end">${esc(l)}</text>`);
  }
  for (const [v, l] of xt) {
    const xx = sx(tx(v));
    if (xx < m.l - 1 || xx > m.l + pw + 1) continue;
    parts.push(`<line x1="${xx.toFixed(1)}" x2="${xx.toFixed(1)}" y1="${m.t}" y2="${m.t + ph}" stroke="#e6e6e6"/><text x="${xx.toFixed(1)}" y="${m.t + ph + 16}" text-anchor="middle">${esc(l)}</text>`);
  }
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 8}" text-anchor="middle" font-size="12">${esc(x.label)}</text>`);
  parts.push(`<text transform="translate(14 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(y.label)}</text>`);
  series.forEach((s, k) => {
    const ok = s.points.map((p, i) => ({ p, i })).filter(({ p: [a, b] }) => Number.isFinite(a) && Number.isFinite(b) && (!x.log || tx(a) > 0) && (!y.log || ty(b) > 0));
    if (ok.length > 0) {
      const d = ok.map(({ p: [a, b] }, i) => `${i ? 'L' : 'M'}${sx(tx(a)).toFixed(1)},${sy(ty(b)).toFixed(1)}`).join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}><title>${esc(s.name)}</title></path>`);
      for (const { p: [a, b], i } of ok) {
        const cx = sx(tx(a));
        const cy = sy(ty(b));
        parts.push(`<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="2.5" fill="${s.color}"><title>${esc(`${s.name}: ${s.labels?.[i] ? `${s.labels[i]}: ` : ''}${niceNumber(a)}, ${fmtY(b)}`)}</title></circle>`);
        if (s.labels?.[i]) parts.push(`<text x="${(cx + 4).toFixed(1)}" y="${(cy - 4).toFixed(1)}" font-size="10" fill="${s.color}">${esc(s.labels[i]!)}</text>`);
      }
    }
    const ly = m.t + 10 + k * 18;
    parts.push(`<line x1="${m.l + pw + 12}" x2="${m.l + pw + 32}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/><text x="${m.l + pw + 36}" y="${ly + 4}">${esc(s.name)}${ok.length ? '' : ' (none)'}</text>`);
  });
  return `<figure><figcaption>${esc(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11" role="img">${parts.join('')}</svg>${note ? `<p class="note">${esc(note)}</p>` : ''}</figure>`;
}

/** Percentile axis in "nines": 0, 90, 99, 99.9, 99.99 evenly spaced. */
const NINES: Axis = {
  label: 'percentile',
  transform: (p: number) => -Math.log10(1 - Math.min(p, 99.99) / 100),
  ticks: [[0, '0'], [90, '90'], [99, '99'], [99.9, '99.9'], [99.99, '99.99']],
};

function distributionCharts(rep: WorkloadsReport): string {
  const out: string[] = [];
  for (const w of WORKLOADS) {
    const series: Series[] = [];
    for (const id of SYSTEM_IDS) {
      const r = findResult(rep, w.id, id);
      if (!r?.curve) continue;
      series.push({ name: `${SYSTEM_LABELS[id]} (${Math.round(r.throughput ?? 0).toLocaleString('en-US')}/s)`, color: COLORS[id], points: r.curve.map(([p, us]) => [p, us]) });
    }
    if (series.length === 0) continue;
    out.push(lineChart(`${w.title}: latency by percentile`, NINES, { label: 'latency', log: true, fmt: fmtUs }, series));
  }
  return out.join('\n');
}

function sweepCharts(rep: WorkloadsReport): string {
  const out: string[] = [];
  for (const [kind, title] of [['put', 'puts'], ['get', 'linearizable gets'], ['sget', 'serializable gets']] as const) {
    const series: Series[] = [];
    for (const id of SYSTEM_IDS) {
      const pts = WORKLOADS.filter((w) => w.kind === kind).map((w) => ({ w, r: findResult(rep, w.id, id) })).filter((x) => x.r?.latency);
      if (pts.length === 0) continue;
      series.push({ name: SYSTEM_LABELS[id], color: COLORS[id], points: pts.map((x) => [x.r!.throughput!, x.r!.latency!.p99]), labels: pts.map((x) => String(x.w.inFlight)) });
    }
    if (series.length) out.push(lineChart(`${title}: throughput against p99 latency, 1 → 256 in flight`, { label: 'throughput (requests/s)', log: true }, { label: 'p99 latency', log: true, fmt: fmtUs }, series, 'Each point is one in-flight setting (labelled); down and to the right is better.'));
  }
  return out.join('\n');
}

function historyChart(h: HistoryReport | undefined): string {
  if (!h || h.stages.length === 0) return '<p class="none">The stored-history sweep did not run.</p>';
  const pts = (f: (s: HistoryReport['stages'][number]) => number): [number, number][] => h.stages.map((s) => [s.revisions, f(s)]);
  return lineChart('point-read latency against stored history', { label: 'revisions stored', log: true }, { label: 'latency', log: true, fmt: fmtUs }, [
    { name: 'latest get p50', color: '#1f77b4', points: pts((s) => s.latest.p50) },
    { name: 'latest get p99', color: '#1f77b4', points: pts((s) => s.latest.p99), dashed: true },
    { name: 'old-rev get p50', color: '#9467bd', points: pts((s) => s.old.p50) },
    { name: 'old-rev get p99', color: '#9467bd', points: pts((s) => s.old.p99), dashed: true },
  ], h.what);
}

/** Horizontal bars: the floor, and each system's sequential durable put p50 against it. */
function floorChart(floor: FloorReport | undefined, rep: WorkloadsReport | undefined): string {
  if (!floor) return '<p class="none">The floor was not measured.</p>';
  const bars: { name: string; us: number; color: string }[] = [
    { name: 'one fdatasync (p50)', us: floor.fdatasync.latency.p50, color: '#444' },
    { name: 'ZeroMQ loopback round trip (p50)', us: floor.zmqRoundTrip.latency.p50, color: '#888' },
  ];
  const pr = floor.zmqProcessRoundTrip?.latency.p50;
  if (pr !== undefined) {
    bars.push({ name: 'the same between two processes (p50)', us: pr, color: '#888' });
    bars.push({ name: '3-member put floor: 2 such round trips + 1 fdatasync', us: threeMemberPutFloor(floor)!, color: '#666' });
  }
  const floorBars = bars.length;
  for (const id of SYSTEM_IDS) {
    const r = rep && findResult(rep, 'put-1', id);
    if (r?.latency) bars.push({ name: `${SYSTEM_LABELS[id]}: sequential durable put p50`, us: r.latency.p50, color: COLORS[id] });
  }
  const W = 720;
  const rowH = 24;
  const l = 300;
  const max = Math.max(...bars.map((b) => b.us)) * 1.15;
  const pw = W - l - 190;
  const fs = floor.fdatasync.latency.p50;
  const parts = bars.map((b, i) => {
    const y = 10 + i * rowH;
    const w = Math.max(1, (b.us / max) * pw);
    return `<text x="${l - 8}" y="${y + 15}" text-anchor="end">${esc(b.name)}</text><rect x="${l}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${b.color}"/><text x="${(l + w + 4).toFixed(1)}" y="${y + 15}">${esc(fmtUs(b.us))}${i >= floorBars ? ` = ${(b.us / fs).toFixed(1)}× fdatasync` : ''}</text>`;
  });
  const fx = l + (fs / max) * pw;
  const H = 20 + bars.length * rowH;
  parts.push(`<line x1="${fx.toFixed(1)}" x2="${fx.toFixed(1)}" y1="4" y2="${H - 4}" stroke="#444" stroke-dasharray="3 3"/>`);
  return `<figure><figcaption>the physical floor and durable write latency</figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">${parts.join('')}</svg><p class="note">${esc(floor.fdatasync.what)}. ${esc(floor.zmqRoundTrip.what)}.${floor.zmqProcessRoundTrip ? ` ${esc(floor.zmqProcessRoundTrip.what)}.` : ''}</p></figure>`;
}

function rowsTable(rows: Row[]): string {
  const head = ['#', 'figure', 'Axis', 'baseline', 'ratio', 'target', ''];
  const body = rows.map((r) => {
    const target = !r.target ? '—' : r.target.of === 'value' ? `${r.target.cmp} ${formatValue(r.target.value, r.unit)}` : `${r.target.cmp} ${r.target.value.toFixed(2)}`;
    const status = r.ok === undefined ? (r.target ? '?' : '') : r.ok ? 'met' : 'NOT MET';
    const cls = r.ok === undefined ? '' : r.ok ? ' class="ok"' : ' class="bad"';
    return `<tr title="${esc(r.method)}"><td>${esc(r.id)}</td><td>${esc(r.title)}</td><td class="n">${esc(formatValue(r.axis, r.unit))}</td><td class="n">${esc(r.baseline === undefined ? '—' : `${formatValue(r.baseline, r.unit)}${r.baselineLabel ? ` (${r.baselineLabel})` : ''}`)}</td><td class="n">${r.ratio === undefined ? '—' : r.ratio.toFixed(2)}</td><td>${esc(target)}</td><td${cls}>${status}</td></tr>`;
  });
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${body.join('')}</tbody></table>`;
}

function workloadTable(rep: WorkloadsReport): string {
  const systems = SYSTEM_IDS.filter((id) => rep.results.some((r) => r.system === id));
  const head = `<tr><th>workload</th>${systems.map((s) => `<th>${esc(SYSTEM_LABELS[s])}<br><small>throughput · p50 / p99 / p99.9 / max</small></th>`).join('')}</tr>`;
  const body = WORKLOADS.map((w) => {
    const cells = systems.map((id) => {
      const r = rep.results.find((x) => x.workload === w.id && x.system === id);
      if (!r || r.skipped) return `<td class="none" title="${esc(r?.skipped ?? '')}">—</td>`;
      if (r.error) return `<td class="bad" title="${esc(r.error)}">failed</td>`;
      const l = r.latency!;
      return `<td class="n">${Math.round(r.throughput!).toLocaleString('en-US')}/s<br><small>${fmtUs(l.p50)} / ${fmtUs(l.p99)} / ${fmtUs(l.p999)} / ${fmtUs(l.max)}</small></td>`;
    });
    return `<tr><td>${esc(w.title)}</td>${cells.join('')}</tr>`;
  });
  return `<table>${head}${body.join('')}</table>`;
}

export interface HtmlInput {
  title: string;
  date: string;
  machine: Machine;
  versions: Record<string, unknown>;
  command: string;
  rows: Row[];
  workloads?: WorkloadsReport;
  floor?: FloorReport;
  history?: HistoryReport;
  errors: { section: string; figure: string; error: string }[];
}

/** "commit abc1234 (+2 files changed), lmdb 3.5.6, ..." from the results' versions. */
function versionsLine(v: Record<string, unknown>): string {
  const git = v.git as { head?: string; dirty?: string[] } | undefined;
  const parts = Object.entries(v).filter(([k]) => k !== 'git').map(([k, x]) => `${k} ${String(x)}`);
  if (git?.head) parts.unshift(`commit ${git.head.slice(0, 7)}${git.dirty?.length ? ` (+${git.dirty.length} uncommitted change(s) outside bench/)` : ''}`);
  return parts.join(', ');
}

export function reportTitle(date: string, mode: string): string {
  return `Axis benchmarks, ${date}${mode === 'quick' ? ' (quick)' : ''}`;
}

export function renderHtml(x: HtmlInput): string {
  const m = x.machine;
  const etcd = x.workloads?.etcd;
  const etcdNote = !x.workloads ? '' : etcd && 'missing' in etcd
    ? `<p class="bad">etcd was not measured: ${esc(etcd.missing)}. The etcd columns and ratios are empty.</p>`
    : `<p>etcd: ${esc((etcd as { version: string }).version)}, 3 members on 127.0.0.1, in the same run.</p>`;
  const sections: string[] = [];
  sections.push(`<h2>Summary</h2>${rowsTable(x.rows)}<p class="note">Hover a row for how it was measured.</p>`);
  if (x.workloads) {
    sections.push(`<h2>Workloads</h2>${etcdNote}${workloadTable(x.workloads)}`);
    sections.push(`<h2>Latency distributions</h2><div class="grid">${distributionCharts(x.workloads)}</div>`);
    sections.push(`<h2>In-flight sweep</h2><div class="grid">${sweepCharts(x.workloads)}</div>`);
    const setups = x.workloads.systems.map((s) => `<li><b>${esc(s.label)}</b>: ${esc(s.setup ? String(s.setup.what) : s.skipped ? `not measured: ${s.skipped}` : `failed: ${s.error ?? '?'}`)}</li>`);
    sections.push(`<h3>Systems</h3><ul>${setups.join('')}</ul>`);
  }
  sections.push(`<h2>Physical floor</h2>${floorChart(x.floor, x.workloads)}`);
  sections.push(`<h2>Stored history</h2>${historyChart(x.history)}`);
  if (x.errors.length) sections.push(`<h2>Errors</h2><ul>${x.errors.map((e) => `<li>${esc(`${e.section}/${e.figure}: ${e.error.split('\n')[0]}`)}</li>`).join('')}</ul>`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(x.title)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1500px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 7px;vertical-align:top}th{background:#f4f4f4;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#080;font-weight:600}.bad{color:#b00;font-weight:600}.none{color:#999}
small{color:#666}.grid{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;border:1px solid #eee;padding:6px}figcaption{font-weight:600;margin-bottom:4px}
.note{color:#555;font-size:12px;max-width:700px}
</style></head><body>
<h1>${esc(x.title)}</h1>
<p>${esc(x.date)} · ${esc(m.cpu)}, ${m.cores} cores, ${m.totalMemoryGB} GiB, Node ${esc(m.node)}, ${esc(m.platform)} ${esc(m.release)} · <code>${esc(x.command)}</code></p>
<p class="note">8-byte keys, 256-byte values, durable writes everywhere; every request's latency recorded in a histogram by the load generator (a fixed number of requests in flight). Versions: ${esc(versionsLine(x.versions))}</p>
${sections.join('\n')}
</body></html>
`;
}
