// MIMI groupInfo (draft-ietf-mimi-protocol-06 §5.6) for a room this server is the hub of: a provider
// asks for one of its users' clients, identified by the request's credential and proven by its
// signature; the Room object decides (room/mimi-group-info.ts), and the answer is sealed to the
// requester's groupInfoPublicKey and signed by this server (shared/mimi-group-info-seal.ts).

import { MatrixError } from "../shared/errors.js";
import { isRoomId, serverNameOf } from "../shared/ids.js";
import { decodeDeviceIdentity } from "../shared/mls-identity.js";
import { verifyWithLabel } from "../shared/mimi-sign.js";
import { sealGroupInfoResponse } from "../shared/mimi-group-info-seal.js";
import {
  decodeBody,
  decodeGroupInfoField,
  decodeGroupInfoRequest,
  decodeMlsMessageField,
  encodeGroupInfoRequestTbs,
  encodeGroupInfoResponse,
  readRatchetTree,
  type GroupInfoRequest,
  type RatchetTreeOption,
} from "../shared/mimi/index.js";
import { ciphersuites, getCiphersuiteNameFromId, type CiphersuiteId, type CiphersuiteName } from "ts-mls/crypto/ciphersuite.js";
import type { SbRequest } from "./app.js";
import { roomStub } from "./client-common.js";
import { pathParam, readBodyBytes } from "./http.js";
import { binary, decodedOrThrow } from "./mimi-http.js";
import { requestingProvider } from "./mimi-provider.js";

const MAX_REQUEST = 64 * 1024;

function suiteOf(id: number): CiphersuiteName | undefined {
  return Object.values(ciphersuites).includes(id as CiphersuiteId) ? getCiphersuiteNameFromId(id as CiphersuiteId) : undefined;
}

/** The user whose client signed the request, when the signature verifies and the credential is that client's. */
async function requesterOf(request: GroupInfoRequest): Promise<string | undefined> {
  if (!(await verifyWithLabel(request.requestingSignatureKey, "GroupInfoRequestTBS", encodeGroupInfoRequestTbs(request), request.signature))) return undefined;
  const credential = request.requestingCredential;
  if (credential.credentialType !== "basic") return undefined;
  const identity = decodeDeviceIdentity(credential.identity, request.requestingSignatureKey);
  return identity.ok ? identity.identity.userId : undefined;
}

export async function serveGroupInfo(req: SbRequest, env: Env): Promise<Response> {
  const provider = await requestingProvider(req, env);
  const roomId = pathParam(req, "roomId");
  if (!isRoomId(roomId)) throw new MatrixError(400, "M_INVALID_PARAM", "Not a room ID");
  const request = decodedOrThrow(decodeGroupInfoRequest(await readBodyBytes(req, MAX_REQUEST)));
  const suite = suiteOf(request.cipherSuite);
  if (!suite) throw new MatrixError(400, "M_INVALID_PARAM", `cipher_suite ${request.cipherSuite} is not one this hub knows`);
  const refuse = (status: "notAuthorized" | "noSuchRoom"): Response => binary(encodeGroupInfoResponse({ protocol: "mls10", roomId, status }));
  const requester = await requesterOf(request);
  if (requester === undefined || serverNameOf(requester) !== provider) return refuse("notAuthorized");
  const answer = await roomStub(env, roomId).mimiGroupInfo(requester);
  if (answer.status !== "success") return refuse(answer.status);
  const groupInfo = decodeGroupInfoField(answer.groupInfo);
  const tree = answer.ratchetTree && decodeBody("RatchetTree", answer.ratchetTree, readRatchetTree);
  const pending = answer.pendingProposals.map((p) => ({ proposal: decodeMlsMessageField(p.message), hubAcceptedTime: BigInt(p.acceptedTs) }));
  if (!groupInfo.ok || (tree && !tree.ok)) throw new MatrixError(500, "M_UNKNOWN", "the kept GroupInfo does not decode");
  const pendingProposals = pending.flatMap((p) => (p.proposal.ok ? [{ proposal: p.proposal.value, hubAcceptedTime: p.hubAcceptedTime }] : []));
  // Without a tree from the committer, the joiner takes it from the GroupInfo's ratchet_tree extension or from members.
  const ratchetTreeOption: RatchetTreeOption = tree?.ok ? { representation: "full", ratchetTree: tree.value } : { representation: "outOfBand", treeSignature: new Uint8Array() };
  let sealed;
  try {
    sealed = await sealGroupInfoResponse({ roomId, cipherSuite: suite, groupInfoPublicKey: request.groupInfoPublicKey, tbe: { groupInfo: groupInfo.value, ratchetTreeOption, pendingProposals }, hubName: req.config.serverName, hubKey: req.config.signingKey });
  } catch {
    throw new MatrixError(400, "M_INVALID_PARAM", `groupInfoPublicKey is not a public key of ${suite}`);
  }
  return binary(encodeGroupInfoResponse(sealed));
}
