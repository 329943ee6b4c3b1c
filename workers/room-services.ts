// Federation work a Room object needs done on its behalf with the Worker's key cache: offering an
// invite to the invitee's server and fetching missed events from a hub, both verified before they
// are handed back. Reached through the Outbound RPC entrypoint.

import type { Pdu } from "../shared/event.js";
import { getRoomVersion } from "../shared/room-versions.js";
import type { StrippedStateEvent } from "../shared/room-state.js";
import { verifyServerSignedEvent } from "../shared/event-signatures.js";
import type { Config } from "./config.js";
import { checkInboundPdu, eventKeyLookup } from "./event-checks.js";
import { FEDERATION_V2, LM_PREFIX } from "../shared/federation-paths.js";
import { federationRequest } from "./federation-request.js";
import { remoteKeyStore } from "./remote-keys.js";

// RPC-facing shapes stay loose (Record<string, unknown>): the recursive event types make the
// generated RPC stub types too deep for TypeScript.
export type InviteResult = { ok: true; pdu: Record<string, unknown> } | { ok: false; status: number; error: string };
export type BackfillResult = { ok: true; pdus: Array<Record<string, unknown>> } | { ok: false; error: string };

/** POST /invite to `target`; the answer must carry `target`'s valid signature on the event. */
export async function inviteAndVerify(
  env: Env,
  config: Config,
  target: string,
  eventId: string,
  pdu: Record<string, unknown>,
  roomVersion: string,
  stripped: StrippedStateEvent[],
): Promise<InviteResult> {
  const version = getRoomVersion(roomVersion);
  if (!version) return { ok: false, status: 400, error: "unsupported room version" };
  const body = { event: pdu, room_version: roomVersion, invite_room_state: stripped };
  // Full-mesh rooms use Matrix's v2 invite; LM rooms the draft's path.
  const path = version.linearized
    ? `${LM_PREFIX}/invite/${encodeURIComponent(eventId.slice(1))}`
    : `${FEDERATION_V2}/invite/${encodeURIComponent(String(pdu["room_id"]))}/${encodeURIComponent(eventId)}`;
  const res = await federationRequest(config, undefined, target, version.linearized ? "POST" : "PUT", path, body);
  if (res.status !== 200) {
    const b = res.body as { error?: unknown } | null;
    return { ok: false, status: res.status, error: typeof b?.error === "string" ? b.error : `HTTP ${res.status}` };
  }
  const answer = res.body as { pdu?: unknown; event?: unknown } | null;
  const signed = (answer?.pdu ?? answer?.event) as Pdu | undefined;
  if (typeof signed !== "object" || signed === null) return { ok: false, status: 502, error: "invite answer has no event" };
  const keys = remoteKeyStore(env, config);
  const ok = await verifyServerSignedEvent(signed, target, version, eventKeyLookup(keys, pdu["origin_server_ts"]));
  if (!ok) return { ok: false, status: 502, error: `${target} did not sign the invite` };
  return { ok: true, pdu: signed as unknown as Record<string, unknown> };
}

/** Events up to `upTo` from the hub's backfill, verified, in the order the hub sent them. */
export async function backfillVerified(env: Env, config: Config, hub: string, roomId: string, upTo: string, limit: number, roomVersion: string): Promise<BackfillResult> {
  const version = getRoomVersion(roomVersion);
  if (!version) return { ok: false, error: "unsupported room version" };
  const path = `${LM_PREFIX}/backfill/${encodeURIComponent(roomId)}?v=${encodeURIComponent(upTo)}&limit=${limit}`;
  const res = await federationRequest(config, undefined, hub, "GET", path);
  const raw = (res.body as { pdus?: unknown } | null)?.pdus;
  if (res.status !== 200 || !Array.isArray(raw)) return { ok: false, error: `backfill from ${hub} failed (${res.status})` };
  const keys = remoteKeyStore(env, config, { notaries: [hub] });
  try {
    return { ok: true, pdus: (await Promise.all(raw.map((e) => checkInboundPdu(e, version, keys, config.serverName)))) as unknown as Array<Record<string, unknown>> };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

/** Any request whose answer carries PDUs: `events` (get_missing_events), `pdus` (event, state, backfill), `auth_chain` (event_auth) or a bare event; all verified. */
export async function fetchVerified(env: Env, config: Config, server: string, method: string, path: string, body: unknown, roomVersion: string): Promise<BackfillResult> {
  const version = getRoomVersion(roomVersion);
  if (!version) return { ok: false, error: "unsupported room version" };
  const res = await federationRequest(config, undefined, server, method, path, body);
  if (res.status !== 200 || typeof res.body !== "object" || res.body === null) return { ok: false, error: `${method} ${path.split("?")[0]} at ${server} failed (${res.status})` };
  const answer = res.body as Record<string, unknown>;
  const list = answer["events"] ?? answer["pdus"] ?? answer["auth_chain"];
  const raw = Array.isArray(list) ? list : "auth_events" in answer ? [answer] : [];
  const keys = remoteKeyStore(env, config, { notaries: [server] });
  const settled = await Promise.allSettled(raw.map((e) => checkInboundPdu(e, version, keys)));
  // Events that fail verification are left out; the caller judges what is left.
  return { ok: true, pdus: settled.flatMap((r) => (r.status === "fulfilled" ? [r.value as unknown as Record<string, unknown>] : [])) };
}
