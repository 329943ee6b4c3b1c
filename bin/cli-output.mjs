// Output helpers of the switchboard CLI: plain text tables, key/value lines, one-line event summaries.

export const out = (s = "") => process.stdout.write(`${s}\n`);
export const printJson = (v) => out(JSON.stringify(v, null, 2));

/** A plain text table: a header row, a rule, then rows; cells are strings. */
export function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? "").length)));
  const line = (cells) => cells.map((c, i) => (i === cells.length - 1 ? String(c ?? "") : String(c ?? "").padEnd(widths[i]))).join("  ").trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** Key: value lines, keys aligned. */
export function fields(pairs) {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}`).join("\n");
}

export const clip = (s, n = 60) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
export const when = (ts) => (typeof ts === "number" && ts > 0 ? new Date(ts).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "-");

/** A one-line description of an event's content, by type. */
export function summarize(pdu, { inState = false } = {}) {
  const c = pdu.content ?? {};
  const str = (v) => (typeof v === "string" ? v : JSON.stringify(v));
  switch (pdu.type) {
    case "m.room.message":
      return c.msgtype && c.msgtype !== "m.text" ? `[${c.msgtype}] ${str(c.body ?? "")}` : str(c.body ?? "");
    case "m.room.member":
      return `${inState ? "" : `${pdu.state_key} `}${c.membership ?? "?"}${c.reason ? ` (${c.reason})` : ""}`;
    case "m.room.name":
      return `name: ${str(c.name ?? "")}`;
    case "m.room.topic":
      return `topic: ${str(c.topic ?? "")}`;
    case "m.room.create":
      return `version ${c.room_version ?? "1"}`;
    case "m.room.join_rules":
      return `join_rule: ${c.join_rule}`;
    case "m.room.history_visibility":
      return `history: ${c.history_visibility}`;
    case "m.room.guest_access":
      return `guest_access: ${c.guest_access}`;
    case "m.room.power_levels":
      return `users: ${Object.entries(c.users ?? {}).map(([u, l]) => `${u}=${l}`).join(", ")}`;
    case "m.room.encrypted":
      return "(encrypted)";
    default: {
      const json = JSON.stringify(c);
      return json === "{}" ? "" : json;
    }
  }
}
