// An LM participant resolves a commit's references to the hub's proposals only from proposals the hub
// signed for that group and epoch; anything else leaves the reference unresolved.

import { describe, expect, it } from "vitest";
import { decodeBase64, encodeBase64 } from "../../shared/base64.js";
import { decodeMessage, MlsDevice } from "../support/mls-client.js";
import type { InspectedCommit } from "../../shared/mls-commit.js";
import { participantListProposal, removeProposal, signHubProposal } from "../../shared/mls-hub-proposals.js";
import { resolveHubReferences } from "../../shared/mls-hub-references.js";
import { groupIdOfRoom } from "../../shared/mls-roster.js";
import { generateSeed, signingKeyFromSeed } from "../../shared/signing-key.js";
import { encodeMlsMessage, type MLSMessage } from "ts-mls/message.js";
import { inspectMemberProposal, memberProposalRef, type MemberProposal } from "../../shared/mls-member-proposal.js";

/** A member's Remove as its PublicMessage (signature and tag are not looked at on this side). */
function memberRemove(epoch: number, senderLeaf: number, removed: number): { message: Uint8Array; proposal: MemberProposal } {
  const m: MLSMessage = {
    version: "mls10",
    wireformat: "mls_public_message",
    publicMessage: {
      content: { groupId: groupIdOfRoom(ROOM), epoch: BigInt(epoch), sender: { senderType: "member", leafIndex: senderLeaf }, authenticatedData: new Uint8Array(), contentType: "proposal", proposal: { proposalType: "remove", remove: { removed } } },
      auth: { contentType: "proposal", signature: new Uint8Array(64) },
      senderType: "member",
      membershipTag: new Uint8Array(32),
    },
  };
  const message = encodeMlsMessage(m);
  const inspected = inspectMemberProposal(message);
  if (!inspected.ok) throw new Error(inspected.reason);
  return { message, proposal: inspected.proposal };
}

const ROOM = "!room:hub.test";
const listUpdate = participantListProposal({ changedRoleParticipants: [], removedIndices: [1], addedParticipants: [] });

async function hub(): Promise<{ seed: Uint8Array; key: Uint8Array }> {
  const seed = generateSeed();
  return { seed, key: (await signingKeyFromSeed(seed, "mls")).publicKey };
}

function commitReferring(epoch: number, refs: Uint8Array[]): InspectedCommit {
  return { groupId: groupIdOfRoom(ROOM), epoch, senderLeaf: 0, proposals: refs.map((ref) => ({ type: "reference", ref })) };
}

describe("resolving the hub's carried proposals", () => {
  it("replaces references to proposals the hub signed for this epoch by the Remove and the list update they are", async () => {
    const h = await hub();
    const list = await signHubProposal(h.seed, groupIdOfRoom(ROOM), 4, listUpdate);
    const remove = await signHubProposal(h.seed, groupIdOfRoom(ROOM), 4, removeProposal(2));
    const resolved = await resolveHubReferences(commitReferring(4, [list.ref, remove.ref]), [list.message, remove.message].map(encodeBase64), h.key);
    expect(resolved.proposals).toEqual([
      { type: "other", name: "app_data_update" },
      { type: "remove", leaf: 2, byHub: true },
    ]);
  });

  it("leaves a reference unresolved when its proposal is signed by another key, for another epoch or group, or garbled", async () => {
    const h = await hub();
    const other = await hub();
    const forged = await signHubProposal(other.seed, groupIdOfRoom(ROOM), 4, removeProposal(2));
    const stale = await signHubProposal(h.seed, groupIdOfRoom(ROOM), 3, removeProposal(2));
    const elsewhere = await signHubProposal(h.seed, groupIdOfRoom("!other:hub.test"), 4, removeProposal(2));
    const carried = [forged, stale, elsewhere].map((s) => encodeBase64(s.message));
    const commit = commitReferring(4, [forged.ref, stale.ref, elsewhere.ref]);
    const resolved = await resolveHubReferences(commit, [...carried, "not base64!", 7], h.key);
    expect(resolved.proposals.map((p) => p.type)).toEqual(["reference", "reference", "reference"]);
  });

  it("resolves a member's standalone Remove as that member's, and only when the sender leaf is a known member", async () => {
    const h = await hub();
    const own = memberRemove(4, 1, 1);
    const ref = await memberProposalRef(own.proposal);
    const carried = [encodeBase64(own.message)];
    expect((await resolveHubReferences(commitReferring(4, [ref]), carried, h.key, (leaf) => (leaf === 1 ? "@bob:f1.test" : undefined))).proposals).toEqual([
      { type: "remove", leaf: 1, proposer: "@bob:f1.test" },
    ]);
    expect((await resolveHubReferences(commitReferring(4, [ref]), carried, h.key, () => undefined)).proposals[0]?.type).toBe("reference");
    expect((await resolveHubReferences(commitReferring(5, [ref]), carried, h.key, () => "@bob:f1.test")).proposals[0]?.type).toBe("reference"); // another epoch
  });

  it("resolves a member's standalone Add and Update (real ts-mls messages) as the roster reads them, the Update for its sender's leaf", async () => {
    const h = await hub();
    const [alice, bob, carol] = await Promise.all([MlsDevice.create("@alice:hub.test", "A1"), MlsDevice.create("@bob:f1.test", "B1"), MlsDevice.create("@carol:p1.test", "C1")]);
    await alice.createGroup(ROOM);
    const adding = await alice.commit({ add: [await bob.keyPackage()] });
    alice.confirm(adding);
    await bob.join(adding.welcome as string);
    const update = await bob.proposeUpdate();
    const kp = decodeMessage(await carol.keyPackage());
    if (kp.wireformat !== "mls_key_package") throw new Error("not a KeyPackage");
    const add = await bob.propose({ proposalType: "add", add: { keyPackage: kp.keyPackage } });
    const refs = await Promise.all(
      [update, add].map((m) => {
        const inspected = inspectMemberProposal(decodeBase64(m));
        if (!inspected.ok) throw new Error(inspected.reason);
        return memberProposalRef(inspected.proposal);
      }),
    );
    const resolved = await resolveHubReferences(commitReferring(1, refs), [update, add], h.key, (leaf) => (leaf === 1 ? bob.userId : undefined));
    expect(resolved.proposals).toEqual([
      { type: "update", identity: { userId: bob.userId, deviceId: "B1", signatureKey: bob.signatureKey }, leaf: 1 },
      { type: "add", identity: { userId: carol.userId, deviceId: "C1", signatureKey: carol.signatureKey }, cipherSuite: kp.keyPackage.cipherSuite },
    ]);
  });

  it("resolves nothing when the PDU carries no list", async () => {
    const h = await hub();
    const list = await signHubProposal(h.seed, groupIdOfRoom(ROOM), 4, listUpdate);
    const commit = commitReferring(4, [list.ref]);
    expect(await resolveHubReferences(commit, undefined, h.key)).toEqual(commit);
    expect(await resolveHubReferences(commit, { 0: encodeBase64(list.message) }, h.key)).toEqual(commit);
  });
});
