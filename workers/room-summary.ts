// A room as the public room directory and the space hierarchy describe it (the spec's
// PublishedRoomsChunk fields), read from the room's current state.

import type { Pdu } from "../shared/event.js";
import type { RoomStub } from "./client-common.js";

export interface RoomSummary {
  room_id: string;
  num_joined_members: number;
  world_readable: boolean;
  guest_can_join: boolean;
  join_rule?: string;
  name?: string;
  topic?: string;
  canonical_alias?: string;
  avatar_url?: string;
  room_type?: string;
}

/** The summary, and the current state it was read from (type|state_key -> event). */
export async function roomSummary(stub: RoomStub, roomId: string): Promise<{ summary: RoomSummary; state: Map<string, Pdu> } | undefined> {
  let rows: Array<{ eventId: string; json: string }>;
  try {
    rows = await stub.currentStateJson("client");
  } catch {
    return undefined;
  }
  if (rows.length === 0) return undefined;
  const state = new Map<string, Pdu>();
  let joined = 0;
  for (const r of rows) {
    const pdu = JSON.parse(r.json) as Pdu;
    state.set(`${pdu.type}|${pdu.state_key ?? ""}`, pdu);
    if (pdu.type === "m.room.member" && pdu.content["membership"] === "join") joined++;
  }
  const str = (type: string, field: string): string | undefined => {
    const v = state.get(`${type}|`)?.content[field];
    return typeof v === "string" && v !== "" ? v : undefined;
  };
  const summary: RoomSummary = {
    room_id: roomId,
    num_joined_members: joined,
    world_readable: str("m.room.history_visibility", "history_visibility") === "world_readable",
    guest_can_join: str("m.room.guest_access", "guest_access") === "can_join",
  };
  const optional: Array<[keyof RoomSummary, string | undefined]> = [
    ["join_rule", str("m.room.join_rules", "join_rule")],
    ["name", str("m.room.name", "name")],
    ["topic", str("m.room.topic", "topic")],
    ["canonical_alias", str("m.room.canonical_alias", "alias")],
    ["avatar_url", str("m.room.avatar", "url")],
    ["room_type", str("m.room.create", "type")],
  ];
  for (const [k, v] of optional) if (v !== undefined) (summary as unknown as Record<string, unknown>)[k] = v;
  return { summary, state };
}
