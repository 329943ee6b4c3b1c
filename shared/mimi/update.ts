// update (MIMI -06 §5.3): a commit (with optional Welcome, GroupInfo and ratchet tree) or proposals
// for the room's MLS group. POST {update}/{roomId}, body UpdateRequest, answer UpdateRoomResponse.

import type { TimestampMs } from "./common.js";
import { PROTOCOL } from "./common.js";
import {
  contentTypeOf,
  readGroupInfo,
  readMlsMessage,
  readWelcome,
  type GroupInfoField,
  type MlsMessageField,
  type WelcomeField,
} from "./mls-fields.js";
import {
  readPartialGroupInfo,
  readRatchetTreeOption,
  writePartialGroupInfo,
  writeRatchetTreeOption,
  type PartialGroupInfo,
  type RatchetTreeOption,
} from "./ratchet-tree-option.js";
import { decodeBody, encodeBody, type Decoded, type Reader, type Writer } from "./tls-codec.js";

export const GROUP_INFO_REPRESENTATION = { full: 1, partial: 2 } as const;

export type GroupInfoOption =
  | { representation: "full"; groupInfo: GroupInfoField }
  | { representation: "partial"; partialGroupInfo: PartialGroupInfo };

export function readGroupInfoOption(r: Reader): GroupInfoOption {
  const representation = r.field("representation", (x) => x.enumU8(GROUP_INFO_REPRESENTATION));
  return representation === "full"
    ? { representation, groupInfo: r.field("groupInfo", readGroupInfo) }
    : { representation, partialGroupInfo: r.field("partialGroupInfo", readPartialGroupInfo) };
}

export function writeGroupInfoOption(w: Writer, o: GroupInfoOption): void {
  w.u8(GROUP_INFO_REPRESENTATION[o.representation]);
  if (o.representation === "full") w.raw(o.groupInfo.bytes);
  else writePartialGroupInfo(w, o.partialGroupInfo);
}

/** HandshakeBundle, the whole of an mls10 UpdateRequest. */
export type UpdateRequest =
  | {
      kind: "commit";
      /** A PublicMessage (or a PrivateMessage, whose header still says commit) carrying the commit. */
      proposalOrCommit: MlsMessageField;
      welcome?: WelcomeField;
      groupInfoOption: GroupInfoOption;
      ratchetTreeOption: RatchetTreeOption;
    }
  | { kind: "proposal"; proposalOrCommit: MlsMessageField; moreProposals: MlsMessageField[] };

function readHandshakeMessage(r: Reader): MlsMessageField {
  const m = readMlsMessage(r);
  const ct = contentTypeOf(m.value);
  if (ct !== "proposal" && ct !== "commit") r.fail("invalid_mls", "not a proposal or commit");
  return m;
}

/**
 * -06 frames UpdateRequest as `select (room.protocol)` with no protocol field; we write none, and
 * accept a leading mls10 octet (0x01) as other readings of §5 put one there. An MLSMessage starts
 * with its version (0x0001), so a first octet of 0x01 can only be that protocol byte.
 */
function skipLeadingProtocol(r: Reader): void {
  if (r.peekU8() === PROTOCOL.mls10) r.u8();
}

export const encodeUpdateRequest = (req: UpdateRequest): Uint8Array =>
  encodeBody((w) => {
    w.raw(req.proposalOrCommit.bytes);
    if (req.kind === "commit") {
      w.optional(req.welcome, (ww, welcome) => ww.raw(welcome.bytes));
      writeGroupInfoOption(w, req.groupInfoOption);
      writeRatchetTreeOption(w, req.ratchetTreeOption);
    } else {
      w.vector(req.moreProposals, (ww, p) => ww.raw(p.bytes));
    }
  });

export const decodeUpdateRequest = (bytes: Uint8Array): Decoded<UpdateRequest> =>
  decodeBody("UpdateRequest", bytes, (r): UpdateRequest => {
    skipLeadingProtocol(r);
    const proposalOrCommit = r.field("proposalOrCommit", readHandshakeMessage);
    if (contentTypeOf(proposalOrCommit.value) === "proposal") {
      return { kind: "proposal", proposalOrCommit, moreProposals: r.field("moreProposals", (x) => x.vector(readHandshakeMessage)) };
    }
    const welcome = r.field("welcome", (x) => x.optional(readWelcome));
    const groupInfoOption = r.field("groupInfoOption", readGroupInfoOption);
    const ratchetTreeOption = r.field("ratchetTreeOption", readRatchetTreeOption);
    return welcome === undefined
      ? { kind: "commit", proposalOrCommit, groupInfoOption, ratchetTreeOption }
      : { kind: "commit", proposalOrCommit, welcome, groupInfoOption, ratchetTreeOption };
  });

export const UPDATE_RESPONSE_CODE = { success: 0, wrongEpoch: 1, notAllowed: 2, invalidProposal: 3 } as const;
export type UpdateResponseCode = keyof typeof UPDATE_RESPONSE_CODE;

export type UpdateRoomResponse =
  | { responseCode: "success"; errorDescription: string; acceptedTimestamp: TimestampMs }
  | { responseCode: "wrongEpoch"; errorDescription: string; currentEpoch: bigint }
  | { responseCode: "notAllowed"; errorDescription: string }
  | { responseCode: "invalidProposal"; errorDescription: string; invalidProposals: Uint8Array[] };

export const encodeUpdateRoomResponse = (res: UpdateRoomResponse): Uint8Array =>
  encodeBody((w) => {
    w.u8(UPDATE_RESPONSE_CODE[res.responseCode]).utf8(res.errorDescription);
    switch (res.responseCode) {
      case "success":
        w.u64(res.acceptedTimestamp);
        return;
      case "wrongEpoch":
        w.u64(res.currentEpoch);
        return;
      case "invalidProposal":
        w.vector(res.invalidProposals, (ww, ref) => ww.opaque(ref));
        return;
      case "notAllowed":
        return;
    }
  });

export const decodeUpdateRoomResponse = (bytes: Uint8Array): Decoded<UpdateRoomResponse> =>
  decodeBody("UpdateRoomResponse", bytes, (r): UpdateRoomResponse => {
    const responseCode = r.field("responseCode", (x) => x.enumU8(UPDATE_RESPONSE_CODE));
    const errorDescription = r.field("errorDescription", (x) => x.utf8());
    switch (responseCode) {
      case "success":
        return { responseCode, errorDescription, acceptedTimestamp: r.field("accepted_timestamp", (x) => x.u64()) };
      case "wrongEpoch":
        return { responseCode, errorDescription, currentEpoch: r.field("currentEpoch", (x) => x.u64()) };
      case "invalidProposal":
        return { responseCode, errorDescription, invalidProposals: r.field("invalidProposals", (x) => x.vector((y) => y.opaque())) };
      case "notAllowed":
        return { responseCode, errorDescription };
    }
  });
