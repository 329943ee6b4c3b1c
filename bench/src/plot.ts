// The B3 plot as a self-contained SVG: aggregate events/s (left axis) and per-room p99 (right axis)
// against the number of rooms (log2 x axis), with the bare-append baseline and, clearly marked, the
// paper model of the same rooms on Cloudflare (rooms × the one-room figure).

import type { Results } from "./report.js";

const W = 760;
const H = 420;
const M = { l: 70, r: 70, t: 40, b: 60 };

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");

export function scalingSvg(r: Results): string {
  const pts = r.b3?.points ?? [];
  const xs = pts.map((p) => p.rooms);
  const maxRooms = Math.max(...xs, 2);
  const one = pts.find((p) => p.rooms === 1)?.aggregate.eventsPerS ?? 0;
  const measuredMax = Math.max(...pts.map((p) => Math.max(p.aggregate.eventsPerS, p.baseline.eventsPerS)), 1);
  const yMax = niceMax(measuredMax * 1.15);
  const latMax = niceMax(Math.max(...pts.map((p) => p.perRoomP99.worst), 1) * 1.1);
  const pw = W - M.l - M.r;
  const ph = H - M.t - M.b;
  const x = (rooms: number) => M.l + (Math.log2(rooms) / Math.log2(maxRooms)) * pw;
  const y = (v: number) => M.t + ph - (Math.min(v, yMax) / yMax) * ph;
  const yl = (v: number) => M.t + ph - (v / latMax) * ph;
  const line = (values: Array<[number, number]>, color: string, dash = "", width = 2.5) =>
    `<polyline fill="none" stroke="${color}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ""} points="${values.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" ")}"/>`;
  const dots = (values: Array<[number, number]>, color: string) => values.map(([a, b]) => `<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="3.5" fill="${color}"/>`).join("");
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">B3 per-room scaling: one workerd on ${r.machine.cpus} cores (${esc(r.date.slice(0, 10))}, ${r.mode})</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    out.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${M.l - 8}" y="${y(v) + 4}" text-anchor="end">${Math.round(v).toLocaleString("en")}</text>`);
    const lv = (latMax * i) / 5;
    out.push(`<text x="${W - M.r + 8}" y="${yl(lv) + 4}" fill="#c0392b">${Math.round(lv)}</text>`);
  }
  for (const rooms of xs) out.push(`<text x="${x(rooms)}" y="${H - M.b + 18}" text-anchor="middle">${rooms}</text>`);
  out.push(`<text x="${M.l + pw / 2}" y="${H - 22}" text-anchor="middle">rooms driven at once (one sending server per room, 1 PDU per transaction)</text>`);
  out.push(`<text transform="translate(18 ${M.t + ph / 2}) rotate(-90)" text-anchor="middle">events/s (aggregate)</text>`);
  out.push(`<text transform="translate(${W - 16} ${M.t + ph / 2}) rotate(90)" text-anchor="middle" fill="#c0392b">per-room p99 latency, ms</text>`);
  out.push(`<rect x="${M.l}" y="${M.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  // Paper model: rooms × one-room throughput, cut at the top of the chart.
  const model: Array<[number, number]> = xs.map((n) => [x(n), y(n * one)]);
  out.push(line(model, "#7f8c8d", "6 5", 1.5));
  const last = xs[xs.length - 1] ?? 1;
  if (last * one > yMax) {
    out.push(`<text x="${x(last) - 4}" y="${M.t + 86}" text-anchor="end" fill="#555">model at ${last} rooms: ${last} × ${Math.round(one).toLocaleString("en")} = ${Math.round(last * one).toLocaleString("en")} events/s (off scale)</text>`);
  }
  const agg: Array<[number, number]> = pts.map((p) => [x(p.rooms), y(p.aggregate.eventsPerS)]);
  const base: Array<[number, number]> = pts.map((p) => [x(p.rooms), y(p.baseline.eventsPerS)]);
  const lat: Array<[number, number]> = pts.map((p) => [x(p.rooms), yl(p.perRoomP99.median)]);
  out.push(line(base, "#27ae60", "2 3"), dots(base, "#27ae60"));
  out.push(line(agg, "#2c6fbb"), dots(agg, "#2c6fbb"));
  out.push(line(lat, "#c0392b", "", 1.8), dots(lat, "#c0392b"));
  const legend: Array<[string, string, string]> = [
    ["#2c6fbb", "", "Switchboard: aggregate accepted events/s (measured)"],
    ["#27ae60", "2 3", "bare-append baseline DO: rows/s, same connections (measured)"],
    ["#c0392b", "", "Switchboard: median of per-room p99 latency (measured, right axis)"],
    ["#7f8c8d", "6 5", "PAPER MODEL, not measured: rooms × one-room rate (each room its own DO on Cloudflare)"],
  ];
  legend.forEach(([color, dash, label], i) => {
    const ly = M.t + 14 + i * 17;
    out.push(`<line x1="${M.l + 10}" x2="${M.l + 40}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2.5"${dash ? ` stroke-dasharray="${dash}"` : ""}/>`);
    out.push(`<text x="${M.l + 46}" y="${ly + 4}">${esc(label)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
