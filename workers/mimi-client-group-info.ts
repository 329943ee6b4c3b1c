// Follower: a local client fetches the GroupInfo of a room hosted on a MIMI hub (-06 §5.6), for an
// external join or to catch up. The client builds and signs the GroupInfoRequest itself (the answer
// is encrypted to its key, so this server cannot read it); this server checks the request is the
// caller's and relays it to the room's hub as this provider.

import { encodeBase64 } from "../shared/base64.js";
import { MatrixError } from "../shared/errors.js";
import { serverNameOf } from "../shared/ids.js";
import { decodeDeviceIdentity } from "../shared/mls-identity.js";
import { decodeGroupInfoRequest, decodeGroupInfoResponse } from "../shared/mimi/index.js";
import type { SbRequest } from "./app.js";
import { requireUser } from "./client-auth.js";
import { json } from "./http.js";
import { clientRelayBody, decodedOrThrow } from "./mimi-http.js";
import { mimiPost } from "./mimi-outbound.js";

/** `{room_id, request}`: a base64 GroupInfoRequest whose credential is one of the caller's clients; answers `{response}` (base64). */
export async function clientGroupInfo(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { roomId, bytes } = await clientRelayBody(req, (id) => {
    if (serverNameOf(id) === req.config.serverName) throw new MatrixError(400, "M_INVALID_PARAM", "That room is hosted here");
  });
  const hub = serverNameOf(roomId);
  const request = decodedOrThrow(decodeGroupInfoRequest(bytes));
  const cred = request.requestingCredential;
  const identity = cred.credentialType === "basic" ? decodeDeviceIdentity(cred.identity) : undefined;
  if (!identity?.ok || identity.identity.userId !== userId) throw new MatrixError(403, "M_FORBIDDEN", "requestingCredential must be one of the caller's clients");
  const reply = await mimiPost(env, req.config, hub, "groupInfo", roomId, bytes);
  if ("error" in reply) throw new MatrixError(502, "M_UNKNOWN", `${hub} could not be reached: ${reply.error}`);
  if (reply.status !== 200 || !decodeGroupInfoResponse(reply.bytes).ok) throw new MatrixError(502, "M_UNKNOWN", `${hub} did not answer with a GroupInfoResponse (${reply.status})`);
  return json({ response: encodeBase64(reply.bytes) });
}
