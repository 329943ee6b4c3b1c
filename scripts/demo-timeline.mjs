// Timelines in the demo: one line per event, printed per server, and checks that the servers' views agree.

import { print } from "./demo-output.mjs";

export function summary(e) {
  const c = e.content ?? {};
  switch (e.type) {
    case "m.room.message":
      return JSON.stringify(c.body ?? "");
    case "m.room.member":
      return `${e.state_key} → ${c.membership}`;
    case "m.room.name":
      return `name = ${JSON.stringify(c.name)}`;
    case "m.room.topic":
      return `topic = ${JSON.stringify(c.topic)}`;
    case "io.switchboard.pair":
      return `paired with ${e.state_key} through ${(c.converters ?? []).join(", ")}`;
    case "m.room.create":
      return `room version ${c.room_version}`;
    case "m.room.join_rules":
      return `join_rule = ${c.join_rule}`;
    case "m.room.history_visibility":
      return `history_visibility = ${c.history_visibility}`;
    case "m.room.guest_access":
      return `guest_access = ${c.guest_access}`;
    case "m.room.power_levels":
      return `users: ${Object.entries(c.users ?? {}).map(([u, l]) => `${u.slice(1, u.indexOf(":"))}=${l}`).join(", ")}`;
    default:
      return JSON.stringify(c).slice(0, 50);
  }
}

export function printTimeline(title, events) {
  const rows = events.map((e, i) => [String(i + 1), e.sender, e.type, summary(e), e.event_id]);
  const headers = ["#", "sender", "type", "content", "event ID"];
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("  ");
  print(`\n${title}`);
  print(`  ${line(headers)}`);
  print(`  ${line(widths.map((w) => "-".repeat(w)))}`);
  for (const r of rows) print(`  ${line(r)}`);
}

/** Polls until every server's view holds every expected event, or fails after the deadline. */
export async function converge(viewers, roomId, expected, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const views = await Promise.all(viewers.map((u) => u.timeline(roomId)));
    const missing = views.map((v) => {
      const ids = new Set(v.map((e) => e.event_id));
      return expected.filter((id) => !ids.has(id)).length;
    });
    if (missing.every((n) => n === 0)) return views;
    if (Date.now() > deadline) {
      fail(`servers did not converge within ${timeoutMs / 1000} s; missing events: ${viewers.map((u, i) => `${u.server.name} ${missing[i]}`).join(", ")}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Compares the views. A participant server's replica starts where it joined, so the shared part starts
 * at the latest first event; from there every view must list the same event IDs in the same order, and
 * each participant's whole view must be exactly the hub's timeline from its first event on.
 */
export function compare(names, views) {
  const hubIds = views[0].map((e) => e.event_id);
  const problems = [];
  let start = 0;
  views.forEach((v, i) => {
    const ids = v.map((e) => e.event_id);
    const at = hubIds.indexOf(ids[0]);
    if (at < 0) return problems.push(`${names[i]}'s first event ${ids[0]} is not in the hub's timeline`);
    start = Math.max(start, at);
    const hubPart = hubIds.slice(at);
    if (ids.length !== hubPart.length || ids.some((id, k) => id !== hubPart[k])) {
      const k = ids.findIndex((id, j) => id !== hubPart[j]);
      problems.push(`${names[i]} differs from the hub at its event #${(k < 0 ? Math.min(ids.length, hubPart.length) : k) + 1}`);
    }
  });
  return { problems, shared: hubIds.slice(start), start };
}
