// The initial events of a follower's view room (room/mimi-follower.ts): created by the bridge user,
// joinable by invitation only (the bridge invites local participants), history shared with members,
// and a create event naming the hub's room and the hub.

import type { InitialEvent } from "../../shared/create-room.js";
import { DEFAULT_ROOM_VERSION_ID } from "../../shared/room-versions.js";
import { MIMI_FANOUT_EVENT, MIMI_HUB_KEY, MIMI_ROOM_KEY } from "./mimi-follower.js";

export function viewRoomEvents(bridge: string, mimiRoom: string, mimiHub: string): { events: InitialEvent[]; version: string } {
  const version = DEFAULT_ROOM_VERSION_ID;
  const events: InitialEvent[] = [
    { type: "m.room.create", state_key: "", content: { room_version: version, [MIMI_ROOM_KEY]: mimiRoom, [MIMI_HUB_KEY]: mimiHub } },
    { type: "m.room.member", state_key: bridge, content: { membership: "join" } },
    {
      type: "m.room.power_levels",
      state_key: "",
      // Members write only fanout events, and only through MimiFollower (it refuses them straight from a client).
      content: { users: { [bridge]: 100 }, users_default: 0, events: { [MIMI_FANOUT_EVENT]: 0, "m.room.power_levels": 100 }, events_default: 100, state_default: 100, invite: 100, kick: 100, ban: 100, redact: 100 },
    },
    { type: "m.room.join_rules", state_key: "", content: { join_rule: "invite" } },
    { type: "m.room.history_visibility", state_key: "", content: { history_visibility: "shared" } },
  ];
  return { events, version };
}
