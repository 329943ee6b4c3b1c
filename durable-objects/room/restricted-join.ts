// Restricted joins in a full-mesh room hosted (also) here: whether a join without an invite may go
// ahead because the user is in an allowed room, and which of our users vouches for it
// (`join_authorised_via_users_server`). Used by a local user's join, by make_join for another
// server's user, and by send_join, which re-judges the join and adds our signature before the auth
// rules see it. Protocol-independent: it reads the core's current state and asks the allowed rooms.

import type { JsonObject } from "../../shared/canonical-json.js";
import type { Pdu } from "../../shared/event.js";
import { serverNameOf } from "../../shared/ids.js";
import { allowedRoomIds, coSign, isRestrictedJoinRule, judgeConditions, pickAuthoriser, type AllowedRoomFacts } from "../../shared/restricted-join.js";
import type { SigningKey } from "../../shared/signing-key.js";
import type { RoomCore } from "./core.js";
import { rejected, type Rejected } from "./verdict.js";

/** What another room on this server says of a user (the Room RPC `membershipFacts`). */
export type AllowedRoomLookup = (roomId: string, userId: string) => Promise<AllowedRoomFacts>;

export const AUTHORISER_KEY = "join_authorised_via_users_server";

/**
 * For a join by `userId` now: `{}` when the join rules ask for no authoriser (not restricted, or the
 * user is invited or joined already), `{ via }` naming the local user who vouches, or the refusal.
 */
export async function joinAuthoriser(core: RoomCore, serverName: string, userId: string, lookup: AllowedRoomLookup): Promise<{ via?: string } | Rejected> {
  if (core.version.linearized) return {};
  const rules = core.state.get("m.room.join_rules", "");
  if (!isRestrictedJoinRule(rules?.content["join_rule"])) return {};
  const current = core.state.membership(userId);
  // A ban is the auth rules' to refuse; invited and joined users need no condition.
  if (current === "join" || current === "invite" || current === "ban") return {};
  const allowed = allowedRoomIds(rules?.content).filter((r) => r !== core.roomId);
  const facts = await Promise.all(allowed.map((r) => lookup(r, userId).catch((): AllowedRoomFacts => ({ serverIn: false, joined: false }))));
  const outcome = judgeConditions(allowed, facts, serverNameOf(userId) === serverName);
  if (!outcome.met) return rejected("restricted", outcome.reason, outcome.status, outcome.errcode);
  const via = pickAuthoriser(core.state, core.state.get("m.room.create", ""), core.version, core.state.joinedUsersOf(serverName));
  if (via === undefined) return rejected("restricted", "No user of this server in the room may invite, so it cannot authorise the join; try another server", 400, "M_UNABLE_TO_GRANT_JOIN");
  return { via };
}

/** The join content a local user's join or a make_join template carries. */
export async function joinContentFor(core: RoomCore, serverName: string, userId: string, lookup: AllowedRoomLookup): Promise<{ content: JsonObject } | Rejected> {
  const a = await joinAuthoriser(core, serverName, userId, lookup);
  if ("outcome" in a) return a;
  return { content: a.via === undefined ? {} : { [AUTHORISER_KEY]: a.via } };
}

/**
 * send_join of a join naming one of our users as authoriser: judged again (the template may be old,
 * or never ours), then co-signed by us, as the spec asks of the authorising server. Joins naming
 * another server's user come back unchanged: that server's signature was checked by the Worker.
 */
export async function vouchForJoin(core: RoomCore, serverName: string, pdu: Pdu, lookup: AllowedRoomLookup, key: () => Promise<SigningKey>): Promise<Pdu | Rejected> {
  const via = pdu.content[AUTHORISER_KEY];
  if (typeof via !== "string") return pdu;
  let viaServer: string;
  try {
    viaServer = serverNameOf(via);
  } catch {
    return rejected("restricted", `${AUTHORISER_KEY} is not a user ID`, 400, "M_BAD_JSON");
  }
  if (viaServer !== serverName) return pdu;
  const a = await joinAuthoriser(core, serverName, pdu.state_key ?? pdu.sender, lookup);
  if ("outcome" in a) return a;
  // Our signature goes only on a join the auth rules will take: the named user must be able to vouch.
  if (pickAuthoriser(core.state, core.state.get("m.room.create", ""), core.version, [via]) !== via) return rejected("restricted", `${via} is not a joined user of this server who may invite`);
  return coSign(pdu, core.version, serverName, await key());
}
