// Authorization rules of the Linearized Matrix room version (draft -04 "Auth Events Selection",
// "Auth Rules Algorithm"). Rules 1 and 2 are signature checks and live in event-signatures.ts; this
// module starts at rule 3. The pieces it shares with Matrix v11/v12 live in auth-rules-common.ts.

import type { Pdu } from "./event.js";
import type { AuthInput, AuthResult } from "./room-version.js";
import { actionLevel, userLevel } from "./power-levels.js";
import {
  ALLOW,
  LM_ROOM_VERSIONS,
  RoomView,
  banRules,
  baseAuthEventKeys,
  checkAuthEventEntries,
  contentOf,
  domainOf,
  finalRules,
  guard,
  leaveRules,
  reject,
  roomAlreadyCreated,
} from "./auth-rules-common.js";

const CREATE = "m.room.create";
const MEMBER = "m.room.member";

/** LM's auth-events selection is the base one every version starts from. */
export function authEventKeysLm(event: Pick<Pdu, "type" | "sender" | "state_key" | "content">): Array<[string, string]> {
  return baseAuthEventKeys(event);
}

export function checkAuthLm(input: AuthInput): AuthResult {
  return guard(() => lmRules(input));
}

function lmRules({ event, state, authEvents, prevEvent, createEvent }: AuthInput): AuthResult {
  if (typeof event.sender !== "string" || typeof event.type !== "string") return reject("format", "sender or type is not a string");
  const c = contentOf(event);

  if (event.type === CREATE) {
    if (!Array.isArray(event.prev_events) || event.prev_events.length > 0) return reject("3.1", "create event has prev_events");
    if (roomAlreadyCreated({ state, createEvent })) return reject("3.1", "the room already has a create event");
    const roomDomain = domainOf(event.room_id);
    if (roomDomain === undefined || roomDomain !== domainOf(event.sender)) return reject("3.2", "room_id domain differs from the sender's");
    if (typeof c.room_version !== "string" || !LM_ROOM_VERSIONS.has(c.room_version)) {
      return reject("3.3", `room_version ${JSON.stringify(c.room_version ?? null).slice(0, 80)} is not ${[...LM_ROOM_VERSIONS].join(" or ")}`);
    }
    return ALLOW;
  }

  const entries = checkAuthEventEntries(event, authEvents, authEventKeysLm(event), "4");
  if (entries) return entries;
  const createAuth = authEvents.find((a) => a.type === CREATE && a.state_key === "");
  if (!createAuth) return reject("4.3", "no m.room.create among the auth events");
  const room = new RoomView(state, state.get(CREATE, "") ?? createAuth, "lm");

  if (event.type === MEMBER) return lmMembership(event, c, room, prevEvent);
  if (room.membership(event.sender) !== "join") return reject("6", "sender is not joined");
  return finalRules(event, room, 7);
}

function lmMembership(event: Pdu, c: Record<string, unknown>, room: RoomView, prevEvent: Pdu | undefined): AuthResult {
  const target = event.state_key;
  const membership = c.membership;
  if (typeof target !== "string" || typeof membership !== "string") return reject("5.1", "member event lacks state_key or membership");
  const sender = event.sender;
  switch (membership) {
    case "join": {
      if (prevEvent?.type === CREATE && room.create !== undefined && target === room.create.sender) return ALLOW;
      if (sender !== target) return reject("5.2.2", "cannot join on behalf of another user");
      const cur = room.membership(sender);
      if (cur === "ban") return reject("5.2.3", "sender is banned");
      const rule = room.joinRule();
      if (rule === "invite" || rule === "knock") {
        return cur === "invite" || cur === "join" ? ALLOW : reject("5.2.4", `join_rule is ${rule} and sender is not invited`);
      }
      if (rule === "public") return ALLOW;
      return reject("5.2.6", `join_rule ${JSON.stringify(rule).slice(0, 80)} does not admit joins`);
    }
    case "invite": {
      if (room.membership(sender) !== "join") return reject("5.3.1", "sender is not joined");
      const cur = room.membership(target);
      if (cur === "join" || cur === "ban") return reject("5.3.2", `target is already ${cur}`);
      const pw = room.power("5.3.3");
      if (userLevel(pw, sender) >= actionLevel(pw.levels, "invite")) return ALLOW;
      return reject("5.3.4", "sender lacks the invite level");
    }
    case "leave":
      return leaveRules(event, target, room, "5.4");
    case "ban":
      return banRules(event, target, room, "5.5");
    case "knock": {
      if (room.joinRule() !== "knock") return reject("5.6.1", "join_rule is not knock");
      if (sender !== target) return reject("5.6.2", "cannot knock on behalf of another user");
      const cur = room.membership(sender);
      if (cur !== "ban" && cur !== "join") return ALLOW;
      return reject("5.6.4", `cannot knock while ${cur}`);
    }
    default:
      return reject("5.7", `unknown membership ${JSON.stringify(membership).slice(0, 80)}`);
  }
}
