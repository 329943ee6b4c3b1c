import { createCommit } from "ts-mls";
import { describe, expect, it } from "vitest";
import { type EncryptedHeader } from "../../shared/mls-commit.js";
import { checkEncrypted, groupIdOfRoom } from "../../shared/mls-roster.js";
import { cipherSuite, encodeMessage } from "../support/mls-client.js";
import { ROOM, accepted, rejected, device, populatedRoom, processAll } from "./mls-roster-hub.js";

describe("MLS roster: m.room.encrypted", () => {
  it("accepts application messages from joined users at the current epoch", async () => {
    const { hub, bob1, alice } = await populatedRoom();
    const message = await bob1.encrypt("hi all");
    expect(hub.encrypted(bob1.userId, message)).toEqual({ ok: true });
    expect(await alice.decrypt(message)).toBe("hi all");
  });

  it("rejects messages from users who are not joined, for another group, or that are not application data", async () => {
    const { hub, alice, carol } = await populatedRoom();
    const message = await carol.encrypt("still here?");
    hub.leave(carol.userId);
    rejected(hub.encrypted(carol.userId, message), "sender_not_joined");

    const stranger = await device("@alice:hub.example", "A9");
    await stranger.createGroup("!other:hub.example");
    rejected(hub.encrypted(alice.userId, await stranger.encrypt("wrong room")), "wrong_group");

    const hidden = await createCommit({ state: alice.state, cipherSuite: await cipherSuite() }, { wireAsPublicMessage: false });
    rejected(hub.encrypted(alice.userId, encodeMessage(hidden.commit)), "not_application");
  });

  it("accepts only epochs from the last removal up to the current one", async () => {
    const { hub, alice, bob1, bob2, carol } = await populatedRoom();
    const header = (epoch: number): EncryptedHeader => ({ groupId: groupIdOfRoom(ROOM), epoch, contentType: "application" });
    const isJoined = (u: string) => hub.joined.has(u);
    expect(checkEncrypted(hub.roster, header(0), alice.userId, isJoined)).toEqual({ ok: true });
    expect(rejected(checkEncrypted(hub.roster, header(3), alice.userId, isJoined), "epoch_not_reached").currentEpoch).toBe(2);

    const removal = await bob1.commit({ remove: [bob2.leafIndex] });
    accepted(hub.commitBy(bob1, removal));
    await processAll([alice, carol], removal.message);
    rejected(checkEncrypted(hub.roster, header(2), alice.userId, isJoined), "epoch_before_removal");
    expect(checkEncrypted(hub.roster, header(3), alice.userId, isJoined)).toEqual({ ok: true });
    rejected(checkEncrypted(null, header(0), alice.userId, isJoined), "no_group");
  });

  it("rejects every encrypted message while a removal is pending", async () => {
    const { hub, alice, carol } = await populatedRoom();
    hub.leave(carol.userId);
    const result = rejected(hub.encrypted(alice.userId, await alice.encrypt("carol must not read this")), "pending_removals");
    expect(result.missing).toEqual([{ leaf: 3, userId: carol.userId, deviceId: "C1" }]);
  });

  it("a kicked user's device, once removed, cannot decrypt what is sent after the removal", async () => {
    const { hub, alice, bob1, bob2, carol } = await populatedRoom();
    const before = await alice.encrypt("before the kick");
    expect(hub.encrypted(alice.userId, before)).toEqual({ ok: true });
    expect(await carol.decrypt(before)).toBe("before the kick");

    hub.leave(carol.userId); // kicked
    const removal = await alice.commit({ remove: [carol.leafIndex] });
    accepted(hub.commitBy(alice, removal));
    await processAll([bob1, bob2], removal.message);

    const after = await alice.encrypt("after the kick");
    expect(hub.encrypted(alice.userId, after)).toEqual({ ok: true });
    expect(await bob1.decrypt(after)).toBe("after the kick");
    expect(await bob2.decrypt(after)).toBe("after the kick");
    // Without the removal commit carol is an epoch behind; with it she knows she is out. Neither decrypts.
    await expect(carol.decrypt(after)).rejects.toThrow();
    // What she can still encrypt under her last epoch is refused, even were she to rejoin.
    const ghost = await carol.encrypt("ghost");
    rejected(hub.encrypted(carol.userId, ghost), "sender_not_joined");
    hub.join(carol.userId);
    rejected(hub.encrypted(carol.userId, ghost), "epoch_before_removal");
    await carol.processCommit(removal.message);
    expect(carol.state.groupActiveState.kind).toBe("removedFromGroup");
    await expect(carol.decrypt(after)).rejects.toThrow();
  });
});
