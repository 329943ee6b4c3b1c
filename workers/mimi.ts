// MIMI endpoints (draft-ietf-mimi-protocol-06 §5) under MIMI_PATH_PREFIX: as hub, update,
// submitMessage and keyMaterial; as follower, notify. Thin: authenticate the provider, decode the
// TLS-PL body (shared/mimi/), call the Room object, encode its outcome. A body that does not decode
// gets 400 naming the structure, field and reason, and reaches no Room.

import { encodeBase64 } from "../shared/base64.js";
import { MatrixError } from "../shared/errors.js";
import { isRoomId, serverNameOf } from "../shared/ids.js";
import { userIdOfUri } from "../shared/mimi-identifiers.js";
import {
  decodeNotifyBody,
  decodeSubmitMessageRequest,
  decodeUpdateRequest,
  encodeSubmitMessageResponse,
  encodeUpdateRoomResponse,
  MIMI_PATH_PREFIX,
  type UpdateRoomResponse,
} from "../shared/mimi/index.js";
import type { RouteTable, SbRequest } from "./app.js";
import { roomStub } from "./client-common.js";
import { readBodyBytes, pathParam } from "./http.js";
import { serveGroupInfo } from "./mimi-group-info.js";
import { serveKeyMaterial } from "./mimi-key-material.js";
import { binary, decodedOrThrow } from "./mimi-http.js";
import { requestingProvider } from "./mimi-provider.js";
import { viewRoomIdOf } from "../durable-objects/room/mimi-follower.js";

const MAX_MIMI_BODY = 1 << 20;

function roomIdOf(req: SbRequest): string {
  const roomId = pathParam(req, "roomId");
  if (!isRoomId(roomId)) throw new MatrixError(400, "M_INVALID_PARAM", "Not a room ID");
  return roomId;
}

async function onUpdate(req: SbRequest, env: Env): Promise<Response> {
  const provider = await requestingProvider(req, env);
  const roomId = roomIdOf(req);
  const bundle = decodedOrThrow(decodeUpdateRequest(await readBodyBytes(req, MAX_MIMI_BODY)));
  const room = roomStub(env, roomId);
  let res: UpdateRoomResponse;
  const o = await room.mimiUpdate(
    provider,
    bundle.kind === "proposal"
      ? { message: bundle.proposalOrCommit.bytes, moreProposals: bundle.moreProposals.map((p) => p.bytes) }
      : {
          message: bundle.proposalOrCommit.bytes,
          welcome: bundle.welcome?.bytes,
          groupInfo: bundle.groupInfoOption.representation === "full" ? bundle.groupInfoOption.groupInfo.bytes : undefined,
          ratchetTree: bundle.ratchetTreeOption.representation === "full" ? bundle.ratchetTreeOption.ratchetTree.bytes : undefined,
        },
  );
  switch (o.code) {
    case "success":
      res = { responseCode: "success", errorDescription: "", acceptedTimestamp: BigInt(o.acceptedTimestamp) };
      break;
    case "wrongEpoch":
      res = { responseCode: "wrongEpoch", errorDescription: o.description, currentEpoch: BigInt(o.currentEpoch) };
      break;
    case "invalidProposal":
      res = { responseCode: "invalidProposal", errorDescription: o.description, invalidProposals: [] };
      break;
    case "notAllowed":
      res = { responseCode: "notAllowed", errorDescription: o.description };
      break;
  }
  return binary(encodeUpdateRoomResponse(res));
}

async function onSubmitMessage(req: SbRequest, env: Env): Promise<Response> {
  const provider = await requestingProvider(req, env);
  const roomId = roomIdOf(req);
  const body = decodedOrThrow(decodeSubmitMessageRequest(await readBodyBytes(req, MAX_MIMI_BODY)));
  const sender = userIdOfUri(body.sendingUri);
  if (sender === undefined) throw new MatrixError(400, "M_INVALID_PARAM", "sendingUri is not a user URI this server reads (mimi://domain/u/localpart)");
  const o = await roomStub(env, roomId).mimiSubmitMessage(provider, sender, body.appMessage.bytes);
  const protocol = "mls10" as const;
  const res =
    o.code === "success"
      ? { protocol, statusCode: "accepted" as const, acceptedTimestamp: BigInt(o.acceptedTimestamp) }
      : o.code === "epochTooOld"
        ? { protocol, statusCode: "epochTooOld" as const, currentEpoch: BigInt(o.currentEpoch) }
        : { protocol, statusCode: "notAllowed" as const };
  return binary(encodeSubmitMessageResponse(res));
}

/** Follower: the hub's fan-out. Only the room's own server may notify about it; a byte-identical repeat is answered 201 and not processed again. */
async function onNotify(req: SbRequest, env: Env): Promise<Response> {
  const provider = await requestingProvider(req, env);
  const roomId = roomIdOf(req);
  if (serverNameOf(roomId) !== provider) throw new MatrixError(403, "M_FORBIDDEN", `${provider} is not the hub of ${roomId}`);
  const bytes = await readBodyBytes(req, MAX_MIMI_BODY);
  const messages = decodedOrThrow(decodeNotifyBody(bytes));
  const hash = encodeBase64(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
  const viewId = await viewRoomIdOf(roomId, req.config.serverName);
  const view = roomStub(env, viewId);
  await view.mimiFollow(viewId, provider, roomId);
  const items = messages.map((m) => ({ kind: m.kind === "welcome" ? ("welcome" as const) : ("message" as const), ts: Number(m.timestamp), message: m.message.bytes }));
  await view.mimiNotified(provider, hash, items);
  return new Response(null, { status: 201 });
}

export function mountMimi(t: RouteTable): void {
  t.add("post", `${MIMI_PATH_PREFIX}/update/:roomId`, onUpdate);
  t.add("post", `${MIMI_PATH_PREFIX}/submitMessage/:roomId`, onSubmitMessage);
  t.add("post", `${MIMI_PATH_PREFIX}/notify/:roomId`, onNotify);
  t.add("post", `${MIMI_PATH_PREFIX}/keyMaterial/:targetUser`, serveKeyMaterial);
  t.add("post", `${MIMI_PATH_PREFIX}/groupInfo/:roomId`, serveGroupInfo);
}
