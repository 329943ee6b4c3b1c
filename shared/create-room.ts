// What POST /createRoom turns into: the ordered initial events of a new room (client-server spec
// "Creation", presets and defaults as Matrix servers apply them).

import type { JsonObject } from "./canonical-json.js";
import { MatrixError } from "./errors.js";
import { isUserId } from "./ids.js";
import { getRoomVersion } from "./room-versions.js";

export interface InitialEvent {
  type: string;
  state_key?: string;
  content: JsonObject;
}

export interface CreateRoomPlan {
  roomVersion: string;
  /** Events the creator sends, in order, starting with m.room.create. */
  events: InitialEvent[];
  /** Users to invite once the room exists. */
  invites: string[];
  isDirect: boolean;
  alias?: string;
  visibility: "public" | "private";
}

type Preset = "private_chat" | "public_chat" | "trusted_private_chat";

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

function bad(message: string): MatrixError {
  return new MatrixError(400, "M_BAD_JSON", message);
}

export function planCreateRoom(
  body: Record<string, unknown>,
  creator: string,
  supportedVersions: ReadonlySet<string>,
  defaultVersion: string,
): CreateRoomPlan {
  const version = body["room_version"] ?? defaultVersion;
  if (typeof version !== "string" || !supportedVersions.has(version)) {
    throw new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Unsupported room version ${JSON.stringify(version)}`);
  }
  const visibility = body["visibility"] ?? "private";
  if (visibility !== "public" && visibility !== "private") throw bad("visibility must be public or private");
  const preset = (body["preset"] ?? (visibility === "public" ? "public_chat" : "private_chat")) as Preset;
  if (!["private_chat", "public_chat", "trusted_private_chat"].includes(preset)) throw bad(`Unknown preset ${JSON.stringify(preset)}`);
  const isDirect = body["is_direct"] === true;

  const invites = body["invite"] ?? [];
  if (!Array.isArray(invites) || !invites.every((u) => isUserId(u))) throw bad("invite must be a list of user IDs");
  for (const key of ["name", "topic", "room_alias_name"]) {
    if (body[key] !== undefined && typeof body[key] !== "string") throw bad(`${key} must be a string`);
  }
  const creation = body["creation_content"] ?? {};
  if (!isObject(creation)) throw bad("creation_content must be an object");
  const override = body["power_level_content_override"] ?? {};
  if (!isObject(override)) throw bad("power_level_content_override must be an object");
  const initialState = body["initial_state"] ?? [];
  if (!Array.isArray(initialState)) throw bad("initial_state must be a list");

  const events: InitialEvent[] = [];
  events.push({ type: "m.room.create", state_key: "", content: { ...creation, room_version: version } });
  events.push({ type: "m.room.member", state_key: creator, content: { membership: "join" } });

  // Room v12 creators outrank every power level and must not be listed (its auth rules refuse it).
  const users: JsonObject = getRoomVersion(version)?.creatorsPrivileged ? {} : { [creator]: 100 };
  if (preset === "trusted_private_chat") for (const u of invites as string[]) users[u] = 100;
  const powerLevels: JsonObject = {
    users,
    users_default: 0,
    events: {
      "m.room.name": 50,
      "m.room.power_levels": 100,
      "m.room.history_visibility": 100,
      "m.room.canonical_alias": 50,
      "m.room.avatar": 50,
      "m.room.tombstone": 100,
      "m.room.server_acl": 100,
      "m.room.encryption": 100,
    },
    events_default: 0,
    state_default: 50,
    ban: 50,
    kick: 50,
    redact: 50,
    invite: preset === "public_chat" ? 0 : 50,
    ...override,
  };
  events.push({ type: "m.room.power_levels", state_key: "", content: powerLevels });

  const alias = typeof body["room_alias_name"] === "string" ? (body["room_alias_name"] as string) : undefined;

  events.push({ type: "m.room.join_rules", state_key: "", content: { join_rule: preset === "public_chat" ? "public" : "invite" } });
  events.push({ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "shared" } });
  if (preset !== "public_chat") events.push({ type: "m.room.guest_access", state_key: "", content: { guest_access: "can_join" } });

  const seen = new Set(events.map((e) => `${e.type}\u0000${e.state_key ?? ""}`));
  for (const raw of initialState) {
    if (!isObject(raw) || typeof raw["type"] !== "string" || !isObject(raw["content"])) {
      throw bad("initial_state entries need a type and a content object");
    }
    const stateKey = raw["state_key"] ?? "";
    if (typeof stateKey !== "string") throw bad("initial_state state_key must be a string");
    if (raw["type"] === "m.room.create" || raw["type"] === "m.room.member" || raw["type"] === "m.room.power_levels") {
      throw bad(`${raw["type"]} cannot be set through initial_state`);
    }
    const key = `${raw["type"]}\u0000${stateKey}`;
    const ev: InitialEvent = { type: raw["type"], state_key: stateKey, content: raw["content"] };
    // A later initial_state entry replaces a preset event for the same state key.
    if (seen.has(key)) {
      const i = events.findIndex((e) => `${e.type}\u0000${e.state_key ?? ""}` === key);
      events.splice(i, 1);
    }
    seen.add(key);
    events.push(ev);
  }
  if (typeof body["name"] === "string") events.push({ type: "m.room.name", state_key: "", content: { name: body["name"] } });
  if (typeof body["topic"] === "string") events.push({ type: "m.room.topic", state_key: "", content: { topic: body["topic"] } });

  const plan: CreateRoomPlan = { roomVersion: version, events, invites: invites as string[], isDirect, visibility };
  if (alias !== undefined) plan.alias = alias;
  return plan;
}
