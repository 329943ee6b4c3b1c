// MIMI bodies carrying real MLS material made by ts-mls: each decodes to what was encoded, and the MLS
// structures inside come back byte-identical and decode with ts-mls to the originals.

import { decodeMlsMessage, emptyPskIndex, encodeMlsMessage, processPrivateMessage, type MLSMessage } from "ts-mls";
import { encodeRatchetTree } from "ts-mls/ratchetTree.js";
import { beforeAll, describe, expect, it } from "vitest";
import {
  decodeGroupInfoRatchetTreeTbe,
  decodeKeyMaterialResponse,
  decodeNotifyBody,
  decodeSubmitMessageRequest,
  decodeUpdateRequest,
  encodeGroupInfoRatchetTreeTbe,
  encodeKeyMaterialResponse,
  encodeNotifyBody,
  encodeSubmitMessageRequest,
  encodeUpdateRequest,
  groupInfoField,
  keyPackageField,
  mlsMessageField,
  ratchetTreeField,
  welcomeField,
  welcomeMessage,
  type Decoded,
  type FanoutMessage,
  type UpdateRequest,
} from "../../shared/mimi/index.js";
import { cipherSuite } from "../support/mls-client.js";
import { mimiMlsMaterial, type MimiMlsMaterial } from "../support/mimi-mls.js";

function ok<T>(d: Decoded<T>): T {
  if (!d.ok) throw new Error(`${d.error.structure}.${d.error.field}: ${d.error.reason} (${d.error.detail})`);
  return d.value;
}

/** The bytes decode with ts-mls, alone, to the message they were made from. */
function expectSameMls(bytes: Uint8Array, original: MLSMessage): void {
  expect(bytes).toEqual(encodeMlsMessage(original));
  const decoded = decodeMlsMessage(bytes, 0);
  expect(decoded?.[1]).toBe(bytes.length);
  expect(decoded?.[0]).toEqual(original);
}

describe("MIMI bodies with real MLS messages", () => {
  let m: MimiMlsMaterial;
  beforeAll(async () => {
    m = await mimiMlsMaterial();
  });

  it("an update with a commit, Welcome, full GroupInfo and ratchet tree round-trips byte for byte", () => {
    const req: UpdateRequest = {
      kind: "commit",
      proposalOrCommit: mlsMessageField(m.commit),
      welcome: welcomeField(m.welcome),
      groupInfoOption: { representation: "full", groupInfo: groupInfoField(m.groupInfo) },
      ratchetTreeOption: { representation: "full", ratchetTree: ratchetTreeField(m.ratchetTree) },
    };
    const bytes = encodeUpdateRequest(req);
    const back = ok(decodeUpdateRequest(bytes));
    expect(encodeUpdateRequest(back)).toEqual(bytes);
    if (back.kind !== "commit") throw new Error("not a commit");
    expectSameMls(back.proposalOrCommit.bytes, m.commit);
    expectSameMls(back.welcome!.bytes, { version: "mls10", wireformat: "mls_welcome", welcome: m.welcome });
    if (back.groupInfoOption.representation !== "full") throw new Error("not full");
    expectSameMls(back.groupInfoOption.groupInfo.bytes, { version: "mls10", wireformat: "mls_group_info", groupInfo: m.groupInfo });
    if (back.ratchetTreeOption.representation !== "full") throw new Error("not full");
    expect(back.ratchetTreeOption.ratchetTree.bytes).toEqual(encodeRatchetTree(m.ratchetTree));
    expect(back.ratchetTreeOption.ratchetTree.value).toEqual(m.ratchetTree);
  });

  it("an update without a Welcome, with a partial GroupInfo and a distribution-service tree, round-trips", () => {
    const req: UpdateRequest = {
      kind: "commit",
      proposalOrCommit: mlsMessageField(m.commit),
      groupInfoOption: {
        representation: "partial",
        partialGroupInfo: { ratchetTreePresence: "present", groupInfoExtensions: m.groupInfo.extensions, signature: m.groupInfo.signature },
      },
      ratchetTreeOption: { representation: "distributionService" },
    };
    const back = ok(decodeUpdateRequest(encodeUpdateRequest(req)));
    expect(back).toEqual(req);
  });

  it("an update carrying proposals lists the further proposals in order", () => {
    const req: UpdateRequest = {
      kind: "proposal",
      proposalOrCommit: mlsMessageField(m.proposal),
      moreProposals: [mlsMessageField(m.secondProposal)],
    };
    const back = ok(decodeUpdateRequest(encodeUpdateRequest(req)));
    if (back.kind !== "proposal") throw new Error("not proposals");
    expectSameMls(back.proposalOrCommit.bytes, m.proposal);
    expectSameMls(back.moreProposals[0]!.bytes, m.secondProposal);
  });

  it("a submitted application message decodes to the same ciphertext, which a member decrypts", async () => {
    const bytes = encodeSubmitMessageRequest({ protocol: "mls10", appMessage: mlsMessageField(m.fromAlice), sendingUri: "mimi://a.example/u/alice" });
    const back = ok(decodeSubmitMessageRequest(bytes));
    expectSameMls(back.appMessage.bytes, m.fromAlice);
    expect(back.sendingUri).toBe("mimi://a.example/u/alice");
    const msg = back.appMessage.value;
    if (msg.wireformat !== "mls_private_message") throw new Error("not private");
    const read = await processPrivateMessage(m.bob, msg.privateMessage, emptyPskIndex, await cipherSuite());
    if (read.kind !== "applicationMessage") throw new Error("not an application message");
    expect(new TextDecoder().decode(read.message)).toBe("hello over MIMI");
  });

  it("a notify body of four concatenated FanoutMessages (application, Welcome, proposal, commit) round-trips", () => {
    const messages: FanoutMessage[] = [
      { kind: "application", timestamp: 1_700_000_000_001n, message: mlsMessageField(m.fromAlice) },
      {
        kind: "welcome",
        timestamp: 1_700_000_000_002n,
        message: welcomeMessage(welcomeField(m.welcome)),
        ratchetTreeOption: { representation: "full", ratchetTree: ratchetTreeField(m.ratchetTree) },
      },
      { kind: "proposal", timestamp: 1_700_000_000_003n, message: mlsMessageField(m.proposal), moreProposals: [mlsMessageField(m.secondProposal)] },
      { kind: "commit", timestamp: 1_700_000_000_004n, message: mlsMessageField(m.commit), externalProposals: [] },
    ];
    const bytes = encodeNotifyBody(messages);
    const back = ok(decodeNotifyBody(bytes));
    expect(back.map((f) => f.kind)).toEqual(["application", "welcome", "proposal", "commit"]);
    expect(back.map((f) => f.timestamp)).toEqual(messages.map((f) => f.timestamp));
    expectSameMls(back[0]!.message.bytes, m.fromAlice);
    expectSameMls(back[3]!.message.bytes, m.commit);
    expect(encodeNotifyBody(back)).toEqual(bytes);
  });

  it("a keyMaterial response carries each client's KeyPackage as ts-mls encodes it", () => {
    const bytes = encodeKeyMaterialResponse({
      protocol: "mls10",
      userStatus: "partialSuccess",
      userUri: "mimi://b.example/u/bob",
      clients: [
        { clientStatus: "success", clientUri: "mimi://b.example/d/bob/1", keyPackage: keyPackageField(m.bobKeyPackage) },
        { clientStatus: "keyMaterialExhausted", clientUri: "mimi://b.example/d/bob/2" },
        { clientStatus: "nothingCompatible", clientUri: "mimi://b.example/d/bob/3", clientCapabilities: m.bobKeyPackage.leafNode.capabilities },
      ],
    });
    const back = ok(decodeKeyMaterialResponse(bytes));
    const first = back.clients[0];
    if (first?.clientStatus !== "success") throw new Error("no KeyPackage");
    expectSameMls(first.keyPackage.bytes, { version: "mls10", wireformat: "mls_key_package", keyPackage: m.bobKeyPackage });
    expect(back.clients[2]).toEqual({
      clientStatus: "nothingCompatible",
      clientUri: "mimi://b.example/d/bob/3",
      clientCapabilities: m.bobKeyPackage.leafNode.capabilities,
    });
    expect(encodeKeyMaterialResponse(back)).toEqual(bytes);
  });

  it("the groupInfo payload (GroupInfo, tree, pending proposals) round-trips", () => {
    const tbe = {
      groupInfo: groupInfoField(m.groupInfo),
      ratchetTreeOption: { representation: "full" as const, ratchetTree: ratchetTreeField(m.ratchetTree) },
      pendingProposals: [{ proposal: mlsMessageField(m.proposal), hubAcceptedTime: 1_700_000_000_000n }],
    };
    const bytes = encodeGroupInfoRatchetTreeTbe(tbe);
    const back = ok(decodeGroupInfoRatchetTreeTbe(bytes));
    expect(back.groupInfo.value).toEqual(m.groupInfo);
    expectSameMls(back.pendingProposals[0]!.proposal.bytes, m.proposal);
    expect(encodeGroupInfoRatchetTreeTbe(back)).toEqual(bytes);
  });
});
