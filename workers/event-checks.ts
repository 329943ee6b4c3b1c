// The stateless half of receiving an event (draft "Receiving Events" steps 1-3): format, signatures
// and content hashes. Done in the Worker, where remote keys are cached and the work spreads over
// isolates; the Room object then only orders, authorizes and stores.

import { forbidden, MatrixError } from "../shared/errors.js";
import type { Lpdu, Pdu } from "../shared/event.js";
import { checkLpduFormat } from "../shared/event-format.js";
import { checkContentHashes, checkLpduContentHash, verifyEventSignatures, verifyLpduSignature, verifyServerSignedEvent, type KeyLookup } from "../shared/event-signatures.js";
import { isUserId, serverNameOf } from "../shared/ids.js";
import type { RoomVersion } from "../shared/room-version.js";
import { HUB_PROPOSALS_UNSIGNED } from "../shared/mls-hub-references.js";
import { MLS_COMMIT_EVENT } from "../shared/room-encryption.js";
import type { VerifyKeyLookup } from "./remote-keys.js";

/** Event signatures may use keys that were valid when the event was made. */
export function eventKeyLookup(keys: VerifyKeyLookup, atTs: unknown): KeyLookup {
  const ts = typeof atTs === "number" && Number.isSafeInteger(atTs) ? atTs : undefined;
  return (server, keyId) => keys.getVerifyKey(server, keyId, ts);
}

/**
 * Turns what a participant sent into an LPDU: tolerates peers that send the make_* template back
 * with auth_events/prev_events or a top-level hash still on it (those are the hub's to set).
 */
export function asLpdu(raw: unknown): Lpdu {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new MatrixError(400, "M_BAD_JSON", "Event must be an object");
  const { auth_events: _a, prev_events: _p, event_id: _e, unsigned: _u, depth: _d, ...rest } = raw as Record<string, unknown>;
  const hashes = rest["hashes"];
  if (typeof hashes === "object" && hashes !== null && "lpdu" in hashes) rest["hashes"] = { lpdu: (hashes as { lpdu: unknown }).lpdu };
  return rest as unknown as Lpdu;
}

/** How far in the future an LPDU's origin_server_ts may be; beyond it the sender's clock is wrong or lying. */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

/** An LPDU at the hub: well-formed, from a user of `origin`, signed by `origin`, hash intact, not from the future. */
export async function checkInboundLpdu(raw: unknown, origin: string, keys: VerifyKeyLookup, now = Date.now()): Promise<Lpdu> {
  checkLpduFormat(raw);
  const lpdu = raw;
  if (serverNameOf(lpdu.sender) !== origin) throw forbidden(`${origin} cannot send events for ${lpdu.sender}`);
  if (lpdu.origin_server_ts > now + MAX_CLOCK_SKEW_MS) {
    throw forbidden(`origin_server_ts is more than ${MAX_CLOCK_SKEW_MS / 60_000} minutes ahead of this server's clock`);
  }
  const sig = await verifyLpduSignature(lpdu, eventKeyLookup(keys, lpdu.origin_server_ts));
  if (!sig.ok) throw forbidden(sig.reason);
  if (!(await checkLpduContentHash(lpdu))) throw forbidden("LPDU content hash does not match");
  return lpdu;
}

/**
 * A PDU from a hub (or in a send_join answer): well-formed for its version and signed as the
 * draft requires; a content-hash mismatch leaves only the redacted event, as the draft says.
 * `coSigner`: send_join at the authorising server, which adds its own signature after judging the join.
 */
export async function checkInboundPdu(raw: unknown, version: RoomVersion, keys: VerifyKeyLookup, checkingServer?: string, coSigner?: string): Promise<Pdu> {
  const { event_id: _e, unsigned: _u, ...rest } = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  version.checkFormat(rest);
  const pdu = rest as unknown as Pdu;
  const sig = await verifyEventSignatures(pdu, version, eventKeyLookup(keys, pdu.origin_server_ts), checkingServer);
  if (!sig.ok) throw forbidden(sig.reason);
  // Matrix v11/v12: a restricted join also carries the signature of the server that authorised it.
  const via = pdu.type === "m.room.member" ? pdu.content["join_authorised_via_users_server"] : undefined;
  if (!version.linearized && via !== undefined && !(coSigner !== undefined && isUserId(via) && serverNameOf(via) === coSigner)) {
    if (!isUserId(via) || !(await verifyServerSignedEvent(pdu, serverNameOf(via), version, eventKeyLookup(keys, pdu.origin_server_ts)))) {
      throw forbidden("The join is not signed by the server of join_authorised_via_users_server");
    }
  }
  const hashes = await checkContentHashes(pdu);
  if (!hashes.ok) return version.redact(pdu) as Pdu;
  return keepHubProposals(pdu, _u);
}

/**
 * A hub's m.mls.commit keeps the hub proposals it includes from `unsigned` (nothing else of it): the
 * room verifies each against the hub's MLS key before it resolves a reference (shared/mls-hub-references.ts).
 */
function keepHubProposals(pdu: Pdu, unsigned: unknown): Pdu {
  if (pdu.type !== MLS_COMMIT_EVENT || typeof unsigned !== "object" || unsigned === null) return pdu;
  const carried = (unsigned as Record<string, unknown>)[HUB_PROPOSALS_UNSIGNED];
  if (!Array.isArray(carried) || !carried.every((c) => typeof c === "string")) return pdu;
  return { ...pdu, unsigned: { [HUB_PROPOSALS_UNSIGNED]: carried as string[] } };
}
