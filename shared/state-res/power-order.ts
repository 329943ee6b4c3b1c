// The reverse topological power ordering (spec "Reverse topological power ordering"): Kahn's
// algorithm over the auth_events edges among the events, taking at each step the ready event whose
// sender has the greatest power level at the event, then the earliest origin_server_ts, then the
// smallest event ID.

import type { Pdu } from "../event.js";
import { isPowerLevel, isPlainObject, roomCreators, CREATOR_POWER_LEVEL, NO_POWER_LEVELS_CREATOR_LEVEL } from "../power-levels.js";
import type { RoomVersion } from "../room-version.js";
import type { EventGraph } from "./event-graph.js";
import { MinHeap } from "./heap.js";

/** Power events: those that may take someone's ability away (spec "Power events"). */
export function isPowerEvent(e: Pdu): boolean {
  if (e.state_key === "" && (e.type === "m.room.power_levels" || e.type === "m.room.join_rules")) return true;
  // Synapse and ruma also count the create event; it never conflicts in a sound room, but agreeing matters if it does.
  if (e.state_key === "" && e.type === "m.room.create") return true;
  if (e.type !== "m.room.member" || typeof e.state_key !== "string" || e.state_key === e.sender) return false;
  const m = isPlainObject(e.content) ? e.content.membership : undefined;
  return m === "leave" || m === "ban";
}

/** The room's create event as an event's rules see it: among its auth events, or (v12) named by its room ID. */
export function createEventFor(graph: EventGraph, version: RoomVersion, id: string, e: Pdu): Pdu | undefined {
  if (version.roomIdFromCreateEvent) {
    const c = typeof e.room_id === "string" && e.room_id.startsWith("!") ? graph.get(`$${e.room_id.slice(1)}`) : undefined;
    return c?.type === "m.room.create" && c.state_key === "" ? c : undefined;
  }
  return graph.authEventAt(id, "m.room.create", "")?.[1];
}

/**
 * The sender's level as the event's own auth events give it. v12 creators outrank every level; without a
 * power-levels event the creator has 100. Malformed levels count as absent, as Synapse reads them leniently.
 */
export function senderPowerLevel(graph: EventGraph, version: RoomVersion, id: string, e: Pdu): number {
  const create = createEventFor(graph, version, id, e);
  const rules = version.creatorsPrivileged ? "12" : "11";
  if (version.creatorsPrivileged && roomCreators(create, rules).has(e.sender)) return CREATOR_POWER_LEVEL;
  const pl = graph.authEventAt(id, "m.room.power_levels", "")?.[1];
  if (!pl) return create?.sender === e.sender ? NO_POWER_LEVELS_CREATOR_LEVEL : 0;
  const c = isPlainObject(pl.content) ? pl.content : {};
  const users = isPlainObject(c.users) ? c.users : {};
  const own = Object.hasOwn(users, e.sender) ? users[e.sender] : undefined;
  if (isPowerLevel(own)) return own;
  return isPowerLevel(c.users_default) ? c.users_default : 0;
}

export const tsOf = (e: Pdu): number => (typeof e.origin_server_ts === "number" && Number.isFinite(e.origin_server_ts) ? e.origin_server_ts : 0);

interface Node {
  id: string;
  level: number;
  ts: number;
  /** Auth events of this node inside the set not yet emitted. */
  pending: number;
}

const before = (x: Node, y: Node): boolean => (x.level !== y.level ? x.level > y.level : x.ts !== y.ts ? x.ts < y.ts : x.id < y.id);

/**
 * Orders `ids` (all known to `graph`) earliest first. Only auth_events edges between two of `ids`
 * constrain the order, as in Synapse and ruma.
 */
export function reverseTopologicalPowerOrder(graph: EventGraph, version: RoomVersion, ids: ReadonlySet<string>): string[] {
  const nodes = new Map<string, Node>();
  const citedBy = new Map<string, string[]>();
  for (const id of ids) {
    const e = graph.get(id);
    if (!e) continue;
    let pending = 0;
    for (const a of graph.authIds(id)) {
      if (!ids.has(a) || !graph.get(a)) continue;
      pending++;
      const list = citedBy.get(a);
      if (list) list.push(id);
      else citedBy.set(a, [id]);
    }
    nodes.set(id, { id, level: senderPowerLevel(graph, version, id, e), ts: tsOf(e), pending });
  }
  const ready = new MinHeap<Node>(before);
  for (const n of nodes.values()) if (n.pending === 0) ready.push(n);
  const out: string[] = [];
  for (let n = ready.pop(); n; n = ready.pop()) {
    out.push(n.id);
    for (const c of citedBy.get(n.id) ?? []) {
      const child = nodes.get(c);
      if (child && --child.pending === 0) ready.push(child);
    }
  }
  return out;
}
