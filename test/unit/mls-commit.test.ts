import { createCommit, defaultCapabilities, defaultLifetime, generateKeyPackage, type MLSMessage } from "ts-mls";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeBase64 } from "../../shared/base64.js";
import { MLS_DEFAULT_ALGORITHM } from "../../shared/mls-algorithm.js";
import { inspectCommit, readEncryptedHeader, type CommitInspection, type MessageRejection } from "../../shared/mls-commit.js";
import { encodeDeviceIdentity } from "../../shared/mls-identity.js";
import { groupIdOfRoom } from "../../shared/mls-roster.js";
import { cipherSuite, decodeMessage, encodeMessage, MlsDevice, rewriteMessage, TEST_SUITE } from "../support/mls-client.js";

const ROOM = "!commits:hub.example";

function inspected(message: unknown) {
  const result = inspectCommit(message, MLS_DEFAULT_ALGORITHM);
  if (!result.ok) throw new Error(`rejected: ${result.code} ${result.reason}`);
  return result.commit;
}

function expectRejected(result: CommitInspection | ReturnType<typeof readEncryptedHeader>, code: MessageRejection): void {
  expect(result.ok).toBe(false);
  if (!result.ok) expect(result.code).toBe(code);
}

function publicCommit(m: MLSMessage) {
  if (m.wireformat !== "mls_public_message" || m.publicMessage.content.contentType !== "commit") throw new Error("not a commit");
  return m.publicMessage.content.commit;
}

describe("inspecting m.mls.commit messages", () => {
  let alice: MlsDevice;
  let bob: MlsDevice;
  let establish: string;
  let addBob: string;

  beforeAll(async () => {
    alice = await MlsDevice.create("@alice:hub.example", "ALICE1");
    bob = await MlsDevice.create("@bob:other.example", "BOB1");
    await alice.createGroup(ROOM);
    const first = await alice.commit();
    establish = first.message;
    alice.confirm(first);
    const add = await alice.commit({ add: [await bob.keyPackage()] });
    addBob = add.message;
    alice.confirm(add);
    await bob.join(add.welcome!);
  });

  it("reads group ID, epoch, sender leaf and the committer's UpdatePath identity from the group's first commit", () => {
    const commit = inspected(establish);
    expect(commit.groupId).toEqual(groupIdOfRoom(ROOM));
    expect(commit.epoch).toBe(0);
    expect(commit.senderLeaf).toBe(0);
    expect(commit.proposals).toEqual([]);
    expect(commit.pathIdentity).toMatchObject({ userId: "@alice:hub.example", deviceId: "ALICE1", signatureKey: alice.signatureKey });
  });

  it("describes an Add with the KeyPackage's device identity and ciphersuite", () => {
    const commit = inspected(addBob);
    expect(commit.epoch).toBe(1);
    expect(commit.proposals).toEqual([
      { type: "add", identity: { userId: "@bob:other.example", deviceId: "BOB1", signatureKey: bob.signatureKey }, cipherSuite: TEST_SUITE },
    ]);
  });

  it("describes a Remove by leaf index and names other proposal types", async () => {
    const pending = await alice.commit({
      remove: [bob.leafIndex],
      extra: [{ proposalType: "group_context_extensions", groupContextExtensions: { extensions: [] } }],
    });
    const commit = inspected(pending.message);
    expect(commit.proposals).toEqual([{ type: "remove", leaf: 1 }, { type: "other", name: "group_context_extensions" }]);
    expect(commit.pathIdentity?.userId).toBe("@alice:hub.example");
  });

  it("describes an Update carried by value as the committer's own", () => {
    const forged = rewriteMessage(establish, (m) => {
      const commit = publicCommit(m);
      const { parentHash: _, ...leaf } = { ...commit.path!.leafNode, leafNodeSource: "update" as const };
      commit.proposals.push({ proposalOrRefType: "proposal", proposal: { proposalType: "update", update: { leafNode: leaf } } });
    });
    expect(inspected(forged).proposals).toEqual([
      { type: "update", identity: { userId: "@alice:hub.example", deviceId: "ALICE1", signatureKey: alice.signatureKey } },
    ]);
  });

  it("reads a proposal by reference as its ProposalRef, left for the hub to resolve", async () => {
    const dave = await MlsDevice.create("@dave:hub.example", "DAVE1");
    await dave.createGroup(ROOM);
    const carol = await MlsDevice.create("@carol:hub.example", "CAROL1");
    await dave.propose({ proposalType: "add", add: { keyPackage: keyPackageOf(await carol.keyPackage()) } });
    const pending = await dave.commit();
    expect(publicCommit(decodeMessage(pending.message)).proposals[0]?.proposalOrRefType).toBe("reference");
    const ref = publicCommit(decodeMessage(pending.message)).proposals[0];
    expect(inspected(pending.message).proposals).toEqual([{ type: "reference", ref: ref?.proposalOrRefType === "reference" ? ref.reference : undefined }]);
  });

  it("rejects a commit sent as a PrivateMessage, a proposal, and an application message", async () => {
    const cs = await cipherSuite();
    const hidden = await createCommit({ state: bob.state, cipherSuite: cs }, { wireAsPublicMessage: false });
    expectRejected(inspectCommit(encodeMessage(hidden.commit), MLS_DEFAULT_ALGORITHM), "not_public_message");
    expectRejected(inspectCommit(await bob.encrypt("hi"), MLS_DEFAULT_ALGORITHM), "not_public_message");
    const erin = await MlsDevice.create("@erin:hub.example", "ERIN1");
    await erin.createGroup(ROOM);
    const proposal = await erin.propose({ proposalType: "group_context_extensions", groupContextExtensions: { extensions: [] } });
    expectRejected(inspectCommit(proposal, MLS_DEFAULT_ALGORITHM), "not_commit");
  });

  it("rejects a commit from a non-member sender", () => {
    const forged = rewriteMessage(establish, (m) => {
      if (m.wireformat !== "mls_public_message") return;
      m.publicMessage = { content: { ...m.publicMessage.content, sender: { senderType: "new_member_commit" } }, auth: m.publicMessage.auth, senderType: "new_member_commit" };
    });
    expectRejected(inspectCommit(forged, MLS_DEFAULT_ALGORITHM), "not_member_sender");
  });

  it("rejects an Add whose KeyPackage uses another ciphersuite than the room's algorithm", () => {
    const forged = rewriteMessage(addBob, (m) => {
      const p = publicCommit(m).proposals[0];
      if (p?.proposalOrRefType === "proposal" && p.proposal.proposalType === "add") {
        p.proposal.add.keyPackage.cipherSuite = "MLS_128_DHKEMP256_AES128GCM_SHA256_P256";
      }
    });
    expectRejected(inspectCommit(forged, MLS_DEFAULT_ALGORITHM), "wrong_ciphersuite");
    expectRejected(inspectCommit(addBob, "m.megolm.v1.aes-sha2"), "unsupported_algorithm");
  });

  it("rejects Adds whose credential is not the draft's identity or names another signature key", async () => {
    const cs = await cipherSuite();
    const plain = await generateKeyPackage({ credentialType: "basic", identity: new TextEncoder().encode("bob") }, defaultCapabilities(), defaultLifetime, [], cs);
    const withPlain = await alice.commit({ add: [encodeMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: plain.publicPackage })] });
    expectRejected(inspectCommit(withPlain.message, MLS_DEFAULT_ALGORITHM), "bad_credential");

    const stolen = rewriteMessage(addBob, (m) => {
      const p = publicCommit(m).proposals[0];
      if (p?.proposalOrRefType === "proposal" && p.proposal.proposalType === "add") {
        p.proposal.add.keyPackage.leafNode.credential = {
          credentialType: "basic",
          identity: encodeDeviceIdentity({ userId: "@bob:other.example", deviceId: "BOB1", signatureKey: alice.signatureKey }),
        };
      }
    });
    expectRejected(inspectCommit(stolen, MLS_DEFAULT_ALGORITHM), "bad_credential");
  });

  it("rejects bytes that are not exactly one MLS message", () => {
    const bytes = Buffer.from(addBob, "base64");
    for (const garbage of [
      "not base64!",
      "",
      encodeBase64(Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff)),
      encodeBase64(bytes.subarray(0, bytes.length - 3)),
      encodeBase64(Buffer.concat([bytes, Buffer.of(0)])),
      42,
      null,
    ]) {
      expectRejected(inspectCommit(garbage, MLS_DEFAULT_ALGORITHM), "malformed");
    }
  });

  it("reads an application message's clear header without decrypting it", async () => {
    const result = readEncryptedHeader(await alice.encrypt("secret"));
    expect(result).toEqual({ ok: true, header: { groupId: groupIdOfRoom(ROOM), epoch: alice.epoch, contentType: "application" } });
    expectRejected(readEncryptedHeader(addBob), "not_private_message");
    expectRejected(readEncryptedHeader("AAAA"), "malformed");
  });
});

function keyPackageOf(b64: string) {
  const m = decodeMessage(b64);
  if (m.wireformat !== "mls_key_package") throw new Error("not a KeyPackage");
  return m.keyPackage;
}
