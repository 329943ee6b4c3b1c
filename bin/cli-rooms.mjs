// The CLI's room commands: the rooms a server knows, one room's summary, its events and its state.

import { adminGet, intOption } from "./cli-http.mjs";
import { clip, fields, out, printJson, summarize, table, when } from "./cli-output.mjs";

async function rooms(ctx) {
  const limit = intOption(ctx, "limit", { min: 1 });
  const data = await adminGet(ctx, `/rooms${limit ? `?limit=${limit}` : ""}`);
  if (ctx.options.json) return printJson(data);
  if (data.rooms.length === 0) return out(`No rooms on ${ctx.url.origin} yet.`);
  out(table(["room", "version", "hub", "creator", "created"], data.rooms.map((r) => [r.room_id, r.room_version, r.hub_server, r.creator ?? "-", when(r.created_ts)])));
  out(`\n${data.rooms.length} room${data.rooms.length === 1 ? "" : "s"}`);
}

async function room(ctx, roomId) {
  const data = await adminGet(ctx, `/rooms/${encodeURIComponent(roomId)}`);
  if (ctx.options.json) return printJson(data);
  out(
    fields([
      ["room", data.roomId],
      ["version", data.version],
      ["hub", `${data.hub}${data.isHub ? " (this server)" : ""}`],
      ["events", `${data.lastPos} (last timeline position)`],
      ["state", `${data.stateCount} state events`],
    ]),
  );
  out();
  if (data.outbox.length === 0) out("Outbox: empty (every destination has reported every event delivered)");
  else out(`Outbox (events not yet reported delivered):\n${table(["destination", "pending"], data.outbox.map((o) => [o.destination, String(o.count)]))}`);
}

async function events(ctx, roomId) {
  const from = intOption(ctx, "from");
  const limit = intOption(ctx, "limit", { min: 1 });
  const q = new URLSearchParams();
  if (from !== undefined) q.set("from", String(from));
  if (limit !== undefined) q.set("limit", String(limit));
  const qs = q.toString();
  const data = await adminGet(ctx, `/rooms/${encodeURIComponent(roomId)}/events${qs ? `?${qs}` : ""}`);
  if (ctx.options.json) return printJson(data);
  if (data.events.length === 0) return out(`No events${from ? ` after position ${from}` : ""}.`);
  out(table(["pos", "sender", "type", "content", "event_id"], data.events.map((e) => [String(e.pos), e.pdu.sender, e.pdu.type, clip(summarize(e.pdu)), e.event_id])));
  const last = data.events[data.events.length - 1].pos;
  const n = `${data.events.length} event${data.events.length === 1 ? "" : "s"}`;
  // A full page may have more after it; a short one reached the end of the timeline.
  out(data.events.length === (limit ?? 500) ? `\n${n}; next page: --from ${last}` : `\n${n} (end of timeline)`);
}

async function state(ctx, roomId) {
  const data = await adminGet(ctx, `/rooms/${encodeURIComponent(roomId)}/state`);
  if (ctx.options.json) return printJson(data);
  out(table(["type", "state_key", "sender", "content", "event_id"], data.state.map((e) => [e.pdu.type, e.pdu.state_key === "" ? '""' : e.pdu.state_key, e.pdu.sender, clip(summarize(e.pdu, { inState: true }), 50), e.event_id])));
  out(`\n${data.state.length} state event${data.state.length === 1 ? "" : "s"}`);
}


export const roomCommands = {
  rooms: {
    args: "[--limit N]",
    summary: "list the rooms this server knows",
    help: `Lists rooms hosted here or joined through another hub, oldest first.

Options:
  --limit N   at most N rooms (default 100, max 1000)`,
    options: { limit: { type: "string" } },
    positionals: [],
    run: rooms,
  },
  room: {
    args: "<roomId>",
    summary: "one room: version, hub, timeline length, outbox",
    help: `Shows a room's version, hub server, last timeline position, state size and, per destination,
the events not yet reported delivered (the room's outbox; "switchboard outbox <server>" sums them).`,
    options: {},
    positionals: ["roomId"],
    run: room,
  },
  events: {
    args: "<roomId> [--from N] [--limit N]",
    summary: "a room's stored events in timeline order",
    help: `Lists a room's events as this server stored them, in timeline order.

Options:
  --from N    start after timeline position N (default 0: from the beginning)
  --limit N   at most N events (default 500, max 1000)`,
    options: { from: { type: "string" }, limit: { type: "string" } },
    positionals: ["roomId"],
    run: events,
  },
  state: {
    args: "<roomId>",
    summary: "a room's current state",
    help: `Lists a room's current state events (create event first, then in timeline order).`,
    options: {},
    positionals: ["roomId"],
    run: state,
  },
};
