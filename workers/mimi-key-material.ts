// MIMI keyMaterial (draft-ietf-mimi-protocol-06 §5.3) for this server's users: one KeyPackage per
// client from the same single-use store as `keys/claim` (a claim deletes what it hands out; the
// fallback KeyPackage only when none is left). The request must be signed by the requester
// (SignWithLabel "KeyMaterialRequestTBS") and come from the requesting user's provider; for a room,
// that user must be joined there.

import { decodeBase64 } from "../shared/base64.js";
import { MLS_KEY_PACKAGE_ALGORITHM } from "../shared/device-keys.js";
import { MatrixError } from "../shared/errors.js";
import { isRoomId, isUserId, serverNameOf } from "../shared/ids.js";
import { clientUriOf, userIdOfUri } from "../shared/mimi-identifiers.js";
import { verifyWithLabel } from "../shared/mimi-sign.js";
import {
  decodeKeyMaterialRequest,
  decodeKeyPackageField,
  encodeKeyMaterialRequestTbs,
  encodeKeyMaterialResponse,
  type ClientKeyMaterial,
  type KeyMaterialResponse,
  type KeyMaterialUserCode,
} from "../shared/mimi/index.js";
import type { SbRequest } from "./app.js";
import { roomStub } from "./client-common.js";
import { claimLocalKeys } from "./e2ee-keys.js";
import { pathParam, readBodyBytes } from "./http.js";
import { binary, decodedOrThrow } from "./mimi-http.js";
import { requestingProvider } from "./mimi-provider.js";
import { listDeviceKeys } from "./storage/device-keys.js";

/** MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, the one suite this server's KeyPackages use. */
const SUITE_ID = 0x0001;
const MAX_REQUEST = 64 * 1024;

export async function serveKeyMaterial(req: SbRequest, env: Env): Promise<Response> {
  const provider = await requestingProvider(req, env);
  const request = decodedOrThrow(decodeKeyMaterialRequest(await readBodyBytes(req, MAX_REQUEST)));
  const requester = userIdOfUri(request.requestingUser);
  if (requester === undefined || serverNameOf(requester) !== provider) throw new MatrixError(403, "M_FORBIDDEN", `${provider} cannot request key material for ${request.requestingUser}`);
  if (!(await verifyWithLabel(request.requesterSignatureKey, "KeyMaterialRequestTBS", encodeKeyMaterialRequestTbs(request), request.signature))) {
    throw new MatrixError(403, "M_FORBIDDEN", "key_material_request_signature does not verify");
  }
  const param = pathParam(req, "targetUser");
  const target = userIdOfUri(request.targetUser);
  if (target === undefined || (param !== request.targetUser && param !== target)) throw new MatrixError(400, "M_INVALID_PARAM", "targetUser in the path and the body differ");
  const answer = (userStatus: KeyMaterialUserCode, clients: ClientKeyMaterial[] = []): Response =>
    binary(encodeKeyMaterialResponse({ protocol: "mls10", userStatus, userUri: request.targetUser, clients } satisfies KeyMaterialResponse));
  if (serverNameOf(target) !== req.config.serverName || !isUserId(target)) return answer("userUnknown");
  if (!request.acceptableCiphersuites.includes(SUITE_ID)) return answer("noCompatibleMaterial");
  if (request.roomId !== "") {
    if (!isRoomId(request.roomId) || (await roomStub(env, request.roomId).membership(requester)) !== "join") return answer("noConsentForThisRoom");
  }
  const devices = (await listDeviceKeys(env.DB, [target])).map((d) => d.deviceId);
  if (devices.length === 0) return answer("userUnknown");
  const claimed = await claimLocalKeys(env, devices.map((deviceId) => ({ userId: target, deviceId, algorithm: MLS_KEY_PACKAGE_ALGORITHM })), Date.now());
  const clients: ClientKeyMaterial[] = devices.map((deviceId) => {
    const clientUri = clientUriOf(target, deviceId);
    const key = Object.values(claimed[target]?.[deviceId] ?? {})[0];
    const kp = typeof key === "string" ? decodeKeyPackageField(decodeBase64(key)) : undefined;
    return kp?.ok ? { clientStatus: "success", clientUri, keyPackage: kp.value } : { clientStatus: "keyMaterialExhausted", clientUri };
  });
  const got = clients.filter((c) => c.clientStatus === "success").length;
  return answer(got === clients.length ? "success" : got > 0 ? "partialSuccess" : "noCompatibleMaterial", clients);
}
