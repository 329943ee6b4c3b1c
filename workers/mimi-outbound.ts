// MIMI requests this server makes as a provider (draft-ietf-mimi-protocol-06 §5): notify to followers
// (as hub), submitMessage / update / keyMaterial to a room's hub (as follower). Bodies are the -06
// structures of shared/mimi/; the peer's endpoints are found under MIMI_PATH_PREFIX at the address the
// server name resolves to (the host map in tests, the Matrix rules otherwise), and this server
// authenticates itself with its client certificate (mimiFetch).

import { encodeBase64 } from "../shared/base64.js";
import { userUriOf } from "../shared/mimi-identifiers.js";
import {
  decodeBody,
  decodeGroupInfoField,
  decodeMlsMessageField,
  decodeSubmitMessageResponse,
  decodeUpdateRoomResponse,
  decodeWelcomeField,
  encodeNotifyBody,
  encodeSubmitMessageRequest,
  encodeUpdateRequest,
  fanoutKindOf,
  MIMI_PATH_PREFIX,
  readRatchetTree,
  type FanoutMessage,
  type MimiEndpoint,
  type MlsMessageField,
  type RatchetTreeOption,
} from "../shared/mimi/index.js";
import type { ForwardFailure } from "../durable-objects/room/mimi-follower.js";
import type { SubmitOutcome, UpdateOutcome, UpdateRequest } from "../durable-objects/room/mimi-hub.js";
import type { Config } from "./config.js";
import { mimiFetch } from "./mimi-peer-auth.js";
import { resolveServerName } from "./resolve.js";

const MIMI_TIMEOUT_MS = 15_000;
const MAX_MIMI_RESPONSE_BYTES = 1 << 20;
const CONTENT_TYPE = "application/octet-stream";

export type MimiReply = { status: number; bytes: Uint8Array } | { error: string };

/** POSTs a MIMI body to `provider` as this provider (mutual TLS, or the local stand-in). */
export async function mimiPost(env: Env, config: Config, provider: string, endpoint: MimiEndpoint, param: string, body: Uint8Array): Promise<MimiReply> {
  try {
    const { baseUrl } = await resolveServerName(provider, config.hostMap);
    const url = `${baseUrl}${MIMI_PATH_PREFIX}/${endpoint}/${encodeURIComponent(param)}`;
    const headers = { "content-type": CONTENT_TYPE, accept: CONTENT_TYPE };
    const res = await mimiFetch(env, config.serverName, url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(MIMI_TIMEOUT_MS) });
    if (Number(res.headers.get("content-length") ?? 0) > MAX_MIMI_RESPONSE_BYTES) return { error: `${provider} answered more than ${MAX_MIMI_RESPONSE_BYTES} bytes` };
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.length > MAX_MIMI_RESPONSE_BYTES) return { error: `${provider} answered more than ${MAX_MIMI_RESPONSE_BYTES} bytes` };
    return { status: res.status, bytes };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

const failed = (why: string): ForwardFailure => ({ code: "unreachable", description: why });

/** One queued notify as a FanoutMessage; true once the follower answered 201. */
export async function deliverNotify(env: Env, config: Config, provider: string, roomId: string, row: { ts: number; message: Uint8Array }): Promise<boolean> {
  const message = decodeMlsMessageField(row.message);
  if (!message.ok) throw new Error(`queued notify is not an MLS message: ${message.error.detail}`);
  const kind = fanoutKindOf(message.value);
  const timestamp = BigInt(row.ts);
  let fanout: FanoutMessage;
  switch (kind) {
    case "application":
      fanout = { kind, timestamp, message: message.value };
      break;
    case "welcome":
      // The Welcome's own ratchet_tree extension carries the tree (the clients here put it there).
      fanout = { kind, timestamp, message: message.value, ratchetTreeOption: { representation: "distributionService" } };
      break;
    case "proposal":
      fanout = { kind, timestamp, message: message.value, moreProposals: [] };
      break;
    case "commit":
      fanout = { kind, timestamp, message: message.value, externalProposals: [] };
      break;
    default:
      throw new Error("queued notify cannot be fanned out");
  }
  const reply = await mimiPost(env, config, provider, "notify", roomId, encodeNotifyBody([fanout]));
  return "status" in reply && reply.status === 201;
}

export async function forwardSubmit(env: Env, config: Config, hub: string, roomId: string, sender: string, appMessage: Uint8Array): Promise<SubmitOutcome | ForwardFailure> {
  const message = decodeMlsMessageField(appMessage);
  if (!message.ok) return { code: "notAllowed", description: `not an MLS message: ${message.error.detail}` };
  const body = encodeSubmitMessageRequest({ protocol: "mls10", appMessage: message.value, sendingUri: userUriOf(sender) });
  const reply = await mimiPost(env, config, hub, "submitMessage", roomId, body);
  if ("error" in reply) return failed(reply.error);
  if (reply.status !== 200) return failed(`${hub} answered ${reply.status}`);
  const res = decodeSubmitMessageResponse(reply.bytes);
  if (!res.ok) return failed(`${hub} answered a malformed SubmitMessageResponse (${res.error.field}: ${res.error.detail})`);
  const v = res.value;
  if (v.statusCode === "accepted") return { code: "success", acceptedTimestamp: Number(v.acceptedTimestamp), eventId: "" };
  if (v.statusCode === "epochTooOld") return { code: "epochTooOld", currentEpoch: Number(v.currentEpoch), description: "the message's epoch is too old" };
  return { code: "notAllowed", description: `${hub} did not allow the message` };
}

/** A commit's HandshakeBundle: it needs the new epoch's GroupInfo; a Welcome and ratchet tree when given. */
function commitBundle(message: MlsMessageField, req: UpdateRequest): Uint8Array | { code: "notAllowed"; description: string } {
  if (!req.groupInfo) return { code: "notAllowed", description: "an update needs the new epoch's GroupInfo" };
  const groupInfo = decodeGroupInfoField(req.groupInfo);
  const welcome = req.welcome && decodeWelcomeField(req.welcome);
  const tree = req.ratchetTree && decodeBody("ratchet tree", req.ratchetTree, readRatchetTree);
  if (!groupInfo.ok || (welcome && !welcome.ok) || (tree && !tree.ok)) return { code: "notAllowed", description: "malformed Welcome, GroupInfo or ratchet tree" };
  const ratchetTreeOption: RatchetTreeOption = tree && tree.ok ? { representation: "full", ratchetTree: tree.value } : { representation: "distributionService" };
  return encodeUpdateRequest({
    kind: "commit",
    proposalOrCommit: message,
    ...(welcome && welcome.ok ? { welcome: welcome.value } : {}),
    groupInfoOption: { representation: "full", groupInfo: groupInfo.value },
    ratchetTreeOption,
  });
}

export async function forwardUpdate(env: Env, config: Config, hub: string, roomId: string, req: UpdateRequest): Promise<UpdateOutcome | ForwardFailure> {
  const message = decodeMlsMessageField(req.message);
  if (!message.ok) return { code: "notAllowed", description: `not an MLS message: ${message.error.detail}` };
  const isProposal = message.value.value.wireformat === "mls_public_message" && message.value.value.publicMessage.content.contentType === "proposal";
  const more = (req.moreProposals ?? []).map((m) => decodeMlsMessageField(m));
  if (!isProposal && more.length > 0) return { code: "notAllowed", description: "more proposals go with a proposal, not a commit" };
  const moreProposals = more.flatMap((m) => (m.ok ? [m.value] : []));
  if (moreProposals.length !== more.length) return { code: "notAllowed", description: "more_proposals holds something that is not an MLS message" };
  const body = isProposal ? encodeUpdateRequest({ kind: "proposal", proposalOrCommit: message.value, moreProposals }) : commitBundle(message.value, req);
  if ("code" in body) return body;
  const reply = await mimiPost(env, config, hub, "update", roomId, body);
  if ("error" in reply) return failed(reply.error);
  if (reply.status !== 200) return failed(`${hub} answered ${reply.status}`);
  const res = decodeUpdateRoomResponse(reply.bytes);
  if (!res.ok) return failed(`${hub} answered a malformed UpdateRoomResponse (${res.error.field}: ${res.error.detail})`);
  const v = res.value;
  switch (v.responseCode) {
    case "success":
      return { code: "success", acceptedTimestamp: Number(v.acceptedTimestamp), eventId: "" };
    case "wrongEpoch":
      return { code: "wrongEpoch", currentEpoch: Number(v.currentEpoch), description: v.errorDescription };
    case "invalidProposal":
      return { code: "invalidProposal", description: v.errorDescription };
    case "notAllowed":
      return { code: "notAllowed", description: v.errorDescription };
  }
}

/** A KeyMaterialRequest a local client built and signed, relayed to the room's hub; the response as base64. */
export async function relayKeyMaterial(env: Env, config: Config, hub: string, targetUser: string, request: Uint8Array): Promise<{ status: number; response?: string; error?: string }> {
  const reply = await mimiPost(env, config, hub, "keyMaterial", targetUser, request);
  if ("error" in reply) return { status: 502, error: reply.error };
  return { status: reply.status, response: encodeBase64(reply.bytes) };
}
