// MIMI keyMaterial (draft-ietf-mimi-protocol-06 §5.2): one KeyPackage per client of the target user
// from the same single-use store as `keys/claim` (a claim deletes what it hands out; the fallback
// KeyPackage only when none is left). The request must be signed by the requesting client, whose
// credential must be that client's (SignWithLabel "KeyMaterialRequestTBS" under requesterSignatureKey),
// and come from the requesting user's provider, or from the hub of the room it names relaying for a
// participant. KeyPackages go out only for a room (-06: the target may consent per room): the
// requester must be joined and the target invited or joined there; this server keeps no standing
// consent. For a target on a MIMI follower of a room we host, the request is relayed to that
// provider (mimi-key-material-relay.ts).

import { decodeBase64 } from "../shared/base64.js";
import { MLS_KEY_PACKAGE_ALGORITHM } from "../shared/device-keys.js";
import { MatrixError } from "../shared/errors.js";
import { isRoomId, isUserId, serverNameOf } from "../shared/ids.js";
import { clientUriOf, userIdOfUri } from "../shared/mimi-identifiers.js";
import { decodeDeviceIdentity } from "../shared/mls-identity.js";
import { verifyWithLabel } from "../shared/mimi-sign.js";
import {
  decodeKeyMaterialRequest,
  decodeKeyPackageField,
  encodeKeyMaterialRequestTbs,
  encodeKeyMaterialResponse,
  type ClientKeyMaterial,
  type KeyMaterialRequest,
  type KeyMaterialResponse,
  type KeyMaterialUserCode,
} from "../shared/mimi/index.js";
import type { SbRequest } from "./app.js";
import { roomStub } from "./client-common.js";
import { claimLocalKeys } from "./e2ee-keys.js";
import { pathParam, readBodyBytes } from "./http.js";
import { binary, decodedOrThrow } from "./mimi-http.js";
import { relayToFollower } from "./mimi-key-material-relay.js";
import { requestingProvider } from "./mimi-provider.js";
import { listDeviceKeys } from "./storage/device-keys.js";

/** MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, the one suite this server's KeyPackages use. */
const SUITE_ID = 0x0001;
const MAX_REQUEST = 64 * 1024;

/** The requesting user, once the signature verifies and the credential is the signing client's; 403 otherwise. */
async function signedRequester(request: KeyMaterialRequest): Promise<string> {
  const requester = userIdOfUri(request.requestingUser);
  if (requester === undefined) throw new MatrixError(403, "M_FORBIDDEN", `${request.requestingUser} is not a user URI`);
  if (!(await verifyWithLabel(request.requesterSignatureKey, "KeyMaterialRequestTBS", encodeKeyMaterialRequestTbs(request), request.signature))) {
    throw new MatrixError(403, "M_FORBIDDEN", "key_material_request_signature does not verify");
  }
  const cred = request.requesterCredential;
  const identity = cred.credentialType === "basic" ? decodeDeviceIdentity(cred.identity, request.requesterSignatureKey) : undefined;
  if (!identity?.ok || identity.identity.userId !== requester) throw new MatrixError(403, "M_FORBIDDEN", "requesterCredential is not a client of requestingUser holding requesterSignatureKey");
  return requester;
}

export async function serveKeyMaterial(req: SbRequest, env: Env): Promise<Response> {
  const provider = await requestingProvider(req, env);
  const bytes = await readBodyBytes(req, MAX_REQUEST);
  const request = decodedOrThrow(decodeKeyMaterialRequest(bytes));
  const own = req.config.serverName;
  const roomId = request.roomId;
  // The room's hub relays for its participants (Figure 4 of -06) and has checked them; anyone else asks for its own users.
  const roomServer = isRoomId(roomId) ? serverNameOf(roomId) : undefined;
  const viaHub = provider === roomServer && provider !== own;
  const requester = await signedRequester(request);
  if (!viaHub && serverNameOf(requester) !== provider) throw new MatrixError(403, "M_FORBIDDEN", `${provider} cannot request key material for ${request.requestingUser}`);
  const param = pathParam(req, "targetUser");
  const target = userIdOfUri(request.targetUser);
  if (target === undefined || (param !== request.targetUser && param !== target)) throw new MatrixError(400, "M_INVALID_PARAM", "targetUser in the path and the body differ");
  const answer = (userStatus: KeyMaterialUserCode, clients: ClientKeyMaterial[] = []): Response =>
    binary(encodeKeyMaterialResponse({ protocol: "mls10", userStatus, userUri: request.targetUser, clients } satisfies KeyMaterialResponse));
  const local = serverNameOf(target) === own && isUserId(target);
  if (!local && roomServer !== own) return answer("userUnknown");
  if (roomId === "") return answer("noConsent");
  if (!isRoomId(roomId)) return answer("noConsentForThisRoom");
  if (!viaHub) {
    const room = roomStub(env, roomId);
    const targetMembership = await room.membership(target);
    if ((await room.membership(requester)) !== "join" || (targetMembership !== "join" && targetMembership !== "invite")) return answer("noConsentForThisRoom");
  }
  if (!local) return relayToFollower(env, req.config, roomId, serverNameOf(target), request.targetUser, bytes);
  if (!request.acceptableCiphersuites.includes(SUITE_ID)) return answer("noCompatibleMaterial");
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
