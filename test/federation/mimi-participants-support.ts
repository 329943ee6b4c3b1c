// Shared pieces of the participant-list federation tests: the MIMI stand-in bindings, refusals as
// data, and the participant list a client rebuilds from the hub's proposals (MIMI -06 §7.5).

import type { MLSMessage } from "ts-mls";
import { userIdOfUri } from "../../shared/mimi-identifiers.js";
import { APP_DATA_UPDATE_PROPOSAL_TYPE } from "../../shared/mls-hub-proposals.js";
import { decodeAppDataUpdate, COMPONENT_ID } from "../../shared/mimi/app-data.js";
import { applyParticipantListUpdate, decodeParticipantListUpdate, type ParticipantListData, type ParticipantListUpdate } from "../../shared/mimi/participant-list.js";
import { decodeMessage } from "../support/mls-client.js";
import { MatrixApiError } from "./client.js";
import type { TestServer } from "./harness.js";

export const ADMIN = { authorization: "Bearer test-admin-token" };
/**
 * The loopback stand-in for mutual TLS (SECURITY.md). The harness gives every server the same bindings,
 * so hub and follower present the same stand-in fingerprint; each one's peers table maps it to the
 * other (pairMimiPeers), which is all either needs.
 */
export const FP = "5".repeat(64);
export const BINDINGS = { FEDERATION_RETRY_BASE_MS: "300", FEDERATION_RETRY_MAX_MS: "2000", MIMI_LOCAL_STAND_IN_FINGERPRINT: FP };

export async function refusal(p: Promise<unknown>): Promise<{ status: number } & Record<string, unknown>> {
  try {
    await p;
  } catch (e) {
    if (e instanceof MatrixApiError) return { status: e.status, ...(e.body as object) };
    if (e instanceof Error) {
      // mimi-member's post() reports "<path>: <status> <json>"
      const m = /: (\d{3}) (\{.*\})$/s.exec(e.message);
      if (m) return { status: Number(m[1]), ...(JSON.parse(m[2] as string) as object) };
    }
    throw e;
  }
  throw new Error("expected a refusal");
}

function proposalOf(m: MLSMessage) {
  if (m.wireformat !== "mls_public_message" || m.publicMessage.content.contentType !== "proposal") throw new Error("not a proposal");
  return m.publicMessage.content.proposal;
}

/** The participant-list update a proposal (base64 MLSMessage) carries, or undefined for another proposal. */
export function participantListUpdateOf(message: string) {
  const p = proposalOf(decodeMessage(message));
  if (p.proposalType !== APP_DATA_UPDATE_PROPOSAL_TYPE || !("proposalData" in p)) return undefined;
  const u = decodeAppDataUpdate(p.proposalData);
  if (!u.ok || u.value.op !== "update" || u.value.componentId !== COMPONENT_ID.participantList) throw new Error("not a participant-list AppDataUpdate");
  const body = decodeParticipantListUpdate(u.value.update);
  if (!body.ok) throw new Error(body.error.detail);
  return body.value;
}

/**
 * The participant list (user IDs, in order) after applying, from an empty list, every participant-list
 * change of `changes`: proposals (base64 MLSMessage) or the updates a commit carried by value.
 */
export function participantsIn(changes: Array<string | ParticipantListUpdate>, list: ParticipantListData = { participants: [] }): string[] {
  let current = list;
  for (const m of changes) {
    const u = typeof m === "string" ? participantListUpdateOf(m) : m;
    if (!u) continue;
    const next = applyParticipantListUpdate(current, u);
    if (!next.ok) throw new Error(next.reason);
    current = next.list;
  }
  return current.participants.map((p) => userIdOfUri(p.user) ?? p.user);
}

/** Makes `hub` and `follower` MIMI peers of each other: each one's peers table maps the stand-in fingerprint to the other. */
export async function pairMimiPeers(hub: TestServer, follower: TestServer): Promise<void> {
  for (const [server, peer] of [[hub, follower.name], [follower, hub.name]] as const) {
    const res = await server.fetch(`/_switchboard/admin/v1/mimi/peers/${FP}`, { method: "PUT", headers: { ...ADMIN, "content-type": "application/json" }, body: JSON.stringify({ domain: peer }) });
    if (res.status !== 200) throw new Error(`${server.name} did not take ${peer} as a MIMI peer: ${res.status} ${await res.text()}`);
  }
}

/** The room's MLS roster summary on `on`, as the admin API reports it (null before the group exists). */
export async function mlsStatusOf(on: TestServer, roomId: string): Promise<{ epoch: number; members: number; pending: number } | null> {
  const res = await on.fetch(`/_switchboard/admin/v1/rooms/${encodeURIComponent(roomId)}/mls`, { headers: ADMIN });
  return ((await res.json()) as { roster: { epoch: number; members: number; pending: number } | null }).roster;
}
