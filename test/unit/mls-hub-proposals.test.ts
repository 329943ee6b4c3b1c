import { describe, expect, it } from "vitest";
import { encodeBase64 } from "../../shared/base64.js";
import { APP_DATA_UPDATE_PROPOSAL_TYPE, encodeHubExternalSender, hubExternalSender, namesExternalSender, participantListProposal, removeProposal, signHubProposal } from "../../shared/mls-hub-proposals.js";
import { decodeAppDataUpdate, COMPONENT_ID } from "../../shared/mimi/app-data.js";
import { decodeParticipantListUpdate } from "../../shared/mimi/participant-list.js";
import { inspectCommit } from "../../shared/mls-commit.js";
import { MLS_DEFAULT_ALGORITHM } from "../../shared/mls-algorithm.js";
import { groupIdOfRoom } from "../../shared/mls-roster.js";
import { generateSeed, signingKeyFromSeed } from "../../shared/signing-key.js";
import { MlsDevice } from "../support/mls-client.js";

const ROOM = "!hubsender:hub.example";

describe("the hub's external proposals", () => {
  it("are verified by ts-mls members holding the hub's key, and the next commit lists exactly their refs", async () => {
    const seed = generateSeed();
    const key = (await signingKeyFromSeed(seed, "mls")).publicKey;
    const sender = encodeHubExternalSender(hubExternalSender("hub.example", key));
    const alice = await MlsDevice.create("@alice:hub.example", "A");
    const bob = await MlsDevice.create("@bob:other.example", "B");
    const carol = await MlsDevice.create("@carol:other.example", "C");
    await alice.createGroup(ROOM);
    const install = await alice.commit({ extra: [MlsDevice.installExternalSender(sender)] });
    alice.confirm(install);
    const add = await alice.commit({ add: [await bob.keyPackage(), await carol.keyPackage()] });
    alice.confirm(add);
    for (const m of [bob, carol]) await m.join(add.welcome as string);

    const list = participantListProposal({ changedRoleParticipants: [], removedIndices: [2], addedParticipants: [] });
    const signed = [await signHubProposal(seed, groupIdOfRoom(ROOM), alice.epoch, list), await signHubProposal(seed, groupIdOfRoom(ROOM), alice.epoch, removeProposal(carol.leafIndex))];
    for (const m of [alice, bob]) for (const s of signed) await m.processProposal(encodeBase64(s.message));
    const removal = await alice.commit();
    alice.confirm(removal);
    await bob.processCommit(removal.message);
    const inspected = inspectCommit(removal.message, MLS_DEFAULT_ALGORITHM);
    if (!inspected.ok) throw new Error(inspected.reason);
    expect(inspected.commit.proposals).toEqual(signed.map((s) => ({ type: "reference", ref: s.ref })));
    expect(alice.leafOf(carol.userId, carol.deviceId)).toBeUndefined();
    expect(await bob.decrypt(await alice.encrypt("after"))).toBe("after");
  });

  it("carry the participant list change as an AppDataUpdate of component 0x0022", () => {
    const p = participantListProposal({ changedRoleParticipants: [], removedIndices: [], addedParticipants: [{ user: "mimi://hub.example/u/alice", roleIndex: 0 }] });
    if (typeof p.proposalType !== "number" || !("proposalData" in p)) throw new Error("not a custom proposal");
    expect(p.proposalType).toBe(APP_DATA_UPDATE_PROPOSAL_TYPE);
    const update = decodeAppDataUpdate(p.proposalData);
    if (!update.ok || update.value.op !== "update") throw new Error("not an update");
    expect(update.value.componentId).toBe(COMPONENT_ID.participantList);
    const body = decodeParticipantListUpdate(update.value.update);
    expect(body.ok && body.value.addedParticipants).toEqual([{ user: "mimi://hub.example/u/alice", roleIndex: 0 }]);
  });

  it("are refused by a member whose group names another external sender", async () => {
    const seed = generateSeed();
    const other = encodeHubExternalSender(hubExternalSender("elsewhere.example", (await signingKeyFromSeed(generateSeed(), "mls")).publicKey));
    const alice = await MlsDevice.create("@alice:hub.example", "A");
    await alice.createGroup(ROOM);
    const install = await alice.commit({ extra: [MlsDevice.installExternalSender(other)] });
    alice.confirm(install);
    const forged = await signHubProposal(seed, groupIdOfRoom(ROOM), alice.epoch, removeProposal(0));
    await expect(alice.processProposal(encodeBase64(forged.message))).rejects.toThrow();
    expect(namesExternalSender(other, (await signingKeyFromSeed(seed, "mls")).publicKey)).toBe(false);
  });
});
