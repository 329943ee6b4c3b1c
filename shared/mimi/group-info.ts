// groupInfo (MIMI -06 §5.6): fetch what an external join needs. POST {groupInfo}/{roomId}, body
// GroupInfoRequest, answer GroupInfoResponse whose payload is HPKE-encrypted to the requester.

import type { CipherSuiteId, Protocol, TimestampMs } from "./common.js";
import { readProtocol, writeProtocol } from "./common.js";
import {
  encodeCredential,
  encodeExternalSender,
  encodeHpkeCiphertext,
  readCredential,
  readExternalSender,
  readGroupInfo,
  readHpkeCiphertext,
  readMlsMessage,
  type Credential,
  type ExternalSender,
  type GroupInfoField,
  type HPKECiphertext,
  type MlsMessageField,
} from "./mls-fields.js";
import { readRatchetTreeOption, writeRatchetTreeOption, type RatchetTreeOption } from "./ratchet-tree-option.js";
import { decodeBody, encodeBody, type Decoded, type Reader, type Writer } from "./tls-codec.js";

export interface GroupInfoRequestTbs {
  protocol: Protocol;
  cipherSuite: CipherSuiteId;
  requestingSignatureKey: Uint8Array;
  requestingCredential: Credential;
  groupInfoPublicKey: Uint8Array;
  /**
   * The request carries `opaque joiningCode<V>`, the TBS `optional opaque joiningCode<V>` (-06
   * disagrees with itself): empty on the wire means none, and the TBS marks it absent then.
   */
  joiningCode: Uint8Array;
}

export interface GroupInfoRequest extends GroupInfoRequestTbs {
  signature: Uint8Array;
}

function writeRequestHead(w: Writer, t: GroupInfoRequestTbs): void {
  writeProtocol(w, t.protocol);
  w.u16(t.cipherSuite).opaque(t.requestingSignatureKey).raw(encodeCredential(t.requestingCredential)).opaque(t.groupInfoPublicKey);
}

/** The bytes SignWithLabel(requestingSignatureKey, "GroupInfoRequestTBS", ·) covers. */
export const encodeGroupInfoRequestTbs = (t: GroupInfoRequestTbs): Uint8Array =>
  encodeBody((w) => {
    writeRequestHead(w, t);
    w.optional(t.joiningCode.length > 0 ? t.joiningCode : undefined, (ww, c) => ww.opaque(c));
  });

export const encodeGroupInfoRequest = (req: GroupInfoRequest): Uint8Array =>
  encodeBody((w) => {
    writeRequestHead(w, req);
    w.opaque(req.joiningCode).opaque(req.signature);
  });

export const decodeGroupInfoRequest = (bytes: Uint8Array): Decoded<GroupInfoRequest> =>
  decodeBody("GroupInfoRequest", bytes, (r) => ({
    protocol: readProtocol(r),
    cipherSuite: r.field("cipher_suite", (x) => x.u16()),
    requestingSignatureKey: r.field("requestingSignatureKey", (x) => x.opaque()),
    requestingCredential: r.field("requestingCredential", readCredential),
    groupInfoPublicKey: r.field("groupInfoPublicKey", (x) => x.opaque()),
    joiningCode: r.field("joiningCode", (x) => x.opaque()),
    signature: r.field("signature", (x) => x.opaque()),
  }));

export const GROUP_INFO_CODE = { success: 1, notAuthorized: 2, noSuchRoom: 3 } as const;
export type GroupInfoCode = keyof typeof GROUP_INFO_CODE;

/** `struct { MLSMessage proposal; uint64 hub_accepted_time; } PendingProposal;` */
export interface PendingProposal {
  proposal: MlsMessageField;
  hubAcceptedTime: TimestampMs;
}

/** What the hub encrypts to groupInfoPublicKey ("GroupInfo and ratchet_tree encryption"). */
export interface GroupInfoRatchetTreeTbe {
  groupInfo: GroupInfoField;
  ratchetTreeOption: RatchetTreeOption;
  pendingProposals: PendingProposal[];
}

export const encodeGroupInfoRatchetTreeTbe = (t: GroupInfoRatchetTreeTbe): Uint8Array =>
  encodeBody((w) => {
    w.raw(t.groupInfo.bytes);
    writeRatchetTreeOption(w, t.ratchetTreeOption);
    w.vector(t.pendingProposals, (ww, p) => ww.raw(p.proposal.bytes).u64(p.hubAcceptedTime));
  });

export const decodeGroupInfoRatchetTreeTbe = (bytes: Uint8Array): Decoded<GroupInfoRatchetTreeTbe> =>
  decodeBody("GroupInfoRatchetTreeTBE", bytes, (r) => ({
    groupInfo: r.field("groupInfo", readGroupInfo),
    ratchetTreeOption: r.field("ratchetTreeOption", readRatchetTreeOption),
    pendingProposals: r.field("pending_proposals", (x) =>
      x.vector((y) => ({
        proposal: y.field("proposal", readMlsMessage),
        hubAcceptedTime: y.field("hub_accepted_time", (z) => z.u64()),
      })),
    ),
  }));

export interface GroupInfoSuccessFields {
  cipherSuite: CipherSuiteId;
  hubSender: ExternalSender;
  encryptedGroupInfoAndTree: HPKECiphertext;
}

export type GroupInfoResponse =
  | ({ protocol: Protocol; roomId: string; status: "success"; signature: Uint8Array } & GroupInfoSuccessFields)
  | { protocol: Protocol; roomId: string; status: "notAuthorized" | "noSuchRoom" };

function writeResponseHead(w: Writer, protocol: Protocol, roomId: string, status: GroupInfoCode): void {
  writeProtocol(w, protocol);
  w.utf8(roomId).u8(GROUP_INFO_CODE[status]);
}

function writeSuccessFields(w: Writer, f: GroupInfoSuccessFields): void {
  w.u16(f.cipherSuite).raw(encodeExternalSender(f.hubSender)).raw(encodeHpkeCiphertext(f.encryptedGroupInfoAndTree));
}

/** The bytes SignWithLabel(hub_sender.signature_key, "GroupInfoResponseTBS", ·) covers. */
export const encodeGroupInfoResponseTbs = (protocol: Protocol, roomId: string, fields: GroupInfoSuccessFields): Uint8Array =>
  encodeBody((w) => {
    writeResponseHead(w, protocol, roomId, "success");
    writeSuccessFields(w, fields);
  });

export const encodeGroupInfoResponse = (res: GroupInfoResponse): Uint8Array =>
  encodeBody((w) => {
    writeResponseHead(w, res.protocol, res.roomId, res.status);
    if (res.status === "success") {
      writeSuccessFields(w, res);
      w.opaque(res.signature);
    }
  });

function readSuccess(r: Reader): GroupInfoSuccessFields & { signature: Uint8Array } {
  return {
    cipherSuite: r.field("cipher_suite", (x) => x.u16()),
    hubSender: r.field("hub_sender", readExternalSender),
    encryptedGroupInfoAndTree: r.field("encrypted_groupinfo_and_tree", readHpkeCiphertext),
    signature: r.field("signature", (x) => x.opaque()),
  };
}

export const decodeGroupInfoResponse = (bytes: Uint8Array): Decoded<GroupInfoResponse> =>
  decodeBody("GroupInfoResponse", bytes, (r): GroupInfoResponse => {
    const protocol = r.field("version", (x) => readProtocol(x));
    const roomId = r.field("room_id", (x) => x.utf8());
    const status = r.field("status", (x) => x.enumU8(GROUP_INFO_CODE));
    if (status === "success") return { protocol, roomId, status, ...readSuccess(r) };
    return { protocol, roomId, status };
  });
