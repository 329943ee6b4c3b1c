// Restricted joins (join rules `restricted` and `knock_restricted`, room versions 8+; we serve 11
// and 12): who may join without an invite, which local user vouches for the join, and the
// authorising server's co-signature. The spec's server-server "Restricted rooms" section gives the
// three refusals: 400 M_UNABLE_TO_AUTHORISE_JOIN when this server cannot judge the conditions (the
// user meets none it can see, and it is not in every allowed room), 400 M_UNABLE_TO_GRANT_JOIN when
// the user qualifies but no local user could vouch for the join, 403 M_FORBIDDEN when the user meets
// no condition.

import { encodeBase64 } from "./base64.js";
import { RoomView } from "./auth-rules-common.js";
import type { Pdu, StateMap } from "./event.js";
import { isRoomId } from "./ids.js";
import { actionLevel } from "./power-levels.js";
import type { RoomVersion } from "./room-version.js";
import { signingBytes } from "./signed-json.js";
import type { SigningKey } from "./signing-key.js";

export function isRestrictedJoinRule(rule: unknown): boolean {
  return rule === "restricted" || rule === "knock_restricted";
}

/** The rooms an `allow` list names as `m.room_membership` conditions; entries of other shapes count for nothing. */
export function allowedRoomIds(joinRulesContent: unknown): string[] {
  const allow = typeof joinRulesContent === "object" && joinRulesContent !== null ? (joinRulesContent as { allow?: unknown }).allow : undefined;
  if (!Array.isArray(allow)) return [];
  const out: string[] = [];
  for (const a of allow) {
    if (typeof a !== "object" || a === null) continue;
    const { type, room_id: roomId } = a as { type?: unknown; room_id?: unknown };
    if (type === "m.room_membership" && isRoomId(roomId) && !out.includes(roomId)) out.push(roomId);
  }
  return out;
}

/** What this server knows of the user in one allowed room. */
export interface AllowedRoomFacts {
  /** This server has a joined member there, so its view of the room's membership is current. */
  serverIn: boolean;
  joined: boolean;
}

export type ConditionOutcome = { met: true } | { met: false; errcode: "M_FORBIDDEN" | "M_UNABLE_TO_AUTHORISE_JOIN"; status: 403 | 400; reason: string };

/**
 * Whether the user meets one of the conditions, as far as this server can tell. A remote user may
 * be in an allowed room this server is not in: then we cannot say no, only that we cannot judge.
 * A local user is in no room this server is not in.
 */
export function judgeConditions(allowed: readonly string[], facts: readonly AllowedRoomFacts[], userIsLocal: boolean): ConditionOutcome {
  if (facts.some((f) => f.serverIn && f.joined)) return { met: true };
  if (allowed.length === 0) return { met: false, errcode: "M_FORBIDDEN", status: 403, reason: "The join rules allow no room's members in" };
  if (!userIsLocal && facts.some((f) => !f.serverIn)) {
    return { met: false, errcode: "M_UNABLE_TO_AUTHORISE_JOIN", status: 400, reason: "This server is not in every allowed room and cannot judge the join; try another server" };
  }
  return { met: false, errcode: "M_FORBIDDEN", status: 403, reason: "You are not a member of any room this room's join rules allow" };
}

/**
 * A user of this server who may vouch for a join: joined, with the power to invite. The one with
 * most power first (a v12 creator over anyone), then by user ID, so repeated asks give the same user.
 */
export function pickAuthoriser(state: StateMap, create: Pdu | undefined, version: Pick<RoomVersion, "authRules">, localJoined: Iterable<string>): string | undefined {
  const view = new RoomView(state, create, version.authRules);
  let levels;
  try {
    levels = view.power("restricted-join");
  } catch {
    return undefined; // malformed power levels: no one can be shown to have the invite level
  }
  const needed = actionLevel(levels.levels, "invite");
  const able = [...localJoined]
    .filter((u) => view.membership(u) === "join")
    .map((u) => ({ u, level: view.level(u, "restricted-join") }))
    .filter((x) => x.level >= needed);
  able.sort((a, b) => (a.level !== b.level ? b.level - a.level : a.u < b.u ? -1 : a.u > b.u ? 1 : 0));
  return able[0]?.u;
}

/** The join with `server`'s signature added over its redacted form, every signature already there kept. */
export async function coSign(pdu: Pdu, version: Pick<RoomVersion, "redact">, server: string, key: SigningKey): Promise<Pdu> {
  const sig = encodeBase64(await key.sign(signingBytes(version.redact(pdu))));
  return { ...pdu, signatures: { ...pdu.signatures, [server]: { ...(pdu.signatures[server] ?? {}), [key.keyId]: sig } } };
}
