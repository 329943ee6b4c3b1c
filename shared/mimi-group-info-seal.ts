// The cryptographic half of a MIMI groupInfo answer (draft-ietf-mimi-protocol-06 §5.6): the hub
// encrypts GroupInfoRatchetTreeTBE to the requester's groupInfoPublicKey (EncryptWithLabel, the room
// ID as context) and signs the response as `hub_sender` (SignWithLabel "GroupInfoResponseTBS"). ts-mls
// supplies HPKE for the group's ciphersuite; the hub signs with its server's Ed25519 key.

import { ciphersuites, getCiphersuiteFromName, type CiphersuiteName } from "ts-mls/crypto/ciphersuite.js";
import { getCiphersuiteImpl } from "ts-mls/crypto/getCiphersuiteImpl.js";
import { decryptWithLabel, encryptWithLabel } from "ts-mls/crypto/hpke.js";
import {
  decodeGroupInfoRatchetTreeTbe,
  encodeGroupInfoRatchetTreeTbe,
  encodeGroupInfoResponseTbs,
  type GroupInfoRatchetTreeTbe,
  type GroupInfoResponse,
  type GroupInfoSuccessFields,
} from "./mimi/group-info.js";
import { signContent, verifyWithLabel } from "./mimi-sign.js";
import type { SigningKey } from "./signing-key.js";

const HPKE_LABEL = "GroupInfo and ratchet_tree encryption";
const RESPONSE_LABEL = "GroupInfoResponseTBS";
const utf8 = new TextEncoder();

export interface SealArgs {
  roomId: string;
  cipherSuite: CiphersuiteName;
  groupInfoPublicKey: Uint8Array;
  tbe: GroupInfoRatchetTreeTbe;
  hubName: string;
  hubKey: Pick<SigningKey, "publicKey" | "sign">;
}

/** A success GroupInfoResponse. Throws when groupInfoPublicKey is not a key of the suite's KEM. */
export async function sealGroupInfoResponse(a: SealArgs): Promise<GroupInfoResponse> {
  const impl = await getCiphersuiteImpl(getCiphersuiteFromName(a.cipherSuite));
  const publicKey = await impl.hpke.importPublicKey(a.groupInfoPublicKey);
  const { ct, enc } = await encryptWithLabel(publicKey, HPKE_LABEL, utf8.encode(a.roomId), encodeGroupInfoRatchetTreeTbe(a.tbe), impl.hpke);
  const fields: GroupInfoSuccessFields = {
    cipherSuite: ciphersuites[a.cipherSuite],
    hubSender: { signaturePublicKey: a.hubKey.publicKey, credential: { credentialType: "basic", identity: utf8.encode(a.hubName) } },
    encryptedGroupInfoAndTree: { kemOutput: enc, ciphertext: ct },
  };
  const signature = await a.hubKey.sign(signContent(RESPONSE_LABEL, encodeGroupInfoResponseTbs("mls10", a.roomId, fields)));
  return { protocol: "mls10", roomId: a.roomId, status: "success", ...fields, signature };
}

/** The requester's side: checks hub_sender's signature and decrypts with the private key matching groupInfoPublicKey. */
export async function openGroupInfoResponse(res: GroupInfoResponse, privateKey: Uint8Array, cipherSuite: CiphersuiteName): Promise<{ ok: true; value: GroupInfoRatchetTreeTbe } | { ok: false; reason: string }> {
  if (res.status !== "success") throw new Error(`groupInfo answered ${res.status}`);
  const tbs = encodeGroupInfoResponseTbs(res.protocol, res.roomId, res);
  if (!(await verifyWithLabel(res.hubSender.signaturePublicKey, RESPONSE_LABEL, tbs, res.signature))) return { ok: false, reason: "hub_sender's signature does not verify" };
  const impl = await getCiphersuiteImpl(getCiphersuiteFromName(cipherSuite));
  const key = await impl.hpke.importPrivateKey(privateKey);
  const { kemOutput, ciphertext } = res.encryptedGroupInfoAndTree;
  const tbe = decodeGroupInfoRatchetTreeTbe(await decryptWithLabel(key, HPKE_LABEL, utf8.encode(res.roomId), kemOutput, ciphertext, impl.hpke));
  return tbe.ok ? tbe : { ok: false, reason: `${tbe.error.field}: ${tbe.error.reason}` };
}
