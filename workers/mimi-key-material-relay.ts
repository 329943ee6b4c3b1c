// keyMaterial for a user of a MIMI follower of a room this server is the hub of: -06 (§5.2, Figure 4)
// has the hub forward the request, unchanged, to the target's provider and hand back its answer.
// Only providers that follow the room are asked; the answer must be a KeyMaterialResponse for the
// user asked about, and is passed on byte for byte.

import { MatrixError } from "../shared/errors.js";
import { decodeKeyMaterialResponse, encodeKeyMaterialResponse } from "../shared/mimi/index.js";
import { roomStub } from "./client-common.js";
import type { Config } from "./config.js";
import { binary } from "./mimi-http.js";
import { mimiPost } from "./mimi-outbound.js";

export async function relayToFollower(env: Env, config: Config, roomId: string, targetServer: string, targetUri: string, request: Uint8Array): Promise<Response> {
  const { followers } = await roomStub(env, roomId).mimiStatus();
  if (!followers.includes(targetServer)) return binary(encodeKeyMaterialResponse({ protocol: "mls10", userStatus: "userUnknown", userUri: targetUri, clients: [] }));
  const reply = await mimiPost(env, config, targetServer, "keyMaterial", targetUri, request);
  if ("error" in reply) throw new MatrixError(502, "M_UNKNOWN", `${targetServer} could not be reached: ${reply.error}`);
  const decoded = reply.status === 200 ? decodeKeyMaterialResponse(reply.bytes) : undefined;
  if (!decoded?.ok || decoded.value.userUri !== targetUri) throw new MatrixError(502, "M_UNKNOWN", `${targetServer} did not answer with a KeyMaterialResponse for ${targetUri} (${reply.status})`);
  return binary(reply.bytes);
}
