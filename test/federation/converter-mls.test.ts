// One MLS group across a converter, with real ts-mls clients: an MLS LM room on hub ch.test (alice)
// with a participant server (cp.test, carol) is paired with a Matrix v12 room that a full-mesh
// server's users join (cm.test: dave and fay with devices, erin without). Their devices are in the group through their ghosts;
// commits and messages cross both ways byte for byte with `commit_event_id` naming each room's own
// copy of the commit; and membership crosses: a leave in the Matrix room is the ghost's leave, a ban in the LM room bans the ghost in the Matrix room,
// a ban in the Matrix room bans (or, while the service user lacks the power, removes) the ghost in
// the LM room, and the banned user's devices owe removal by the next commit; unbans lift the ghosts'
// bans on the other side. Steps run in order.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ghostUserId, serviceUserId } from "../../shared/converter/ghost-user.js";
import { PROVENANCE_KEY } from "../../shared/converter/provenance.js";
import { COMMIT_REFUSED_EVENT } from "../../durable-objects/room/converter-refusal.js";
import { LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";
import { eventually, MatrixApiError, storedEvents, TestClient, type StoredPdu } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";
import { KEY_PACKAGE_ALGORITHM, MlsMember, ROOM_ALGORITHM, WELCOME_ALGORITHM, type ToDeviceEvent } from "./mls-member.js";
import { pairPublic } from "./converter-setup.js";

const HUB = "ch.test";
const ADMIN = { authorization: "Bearer test-admin-token" };
const enc = encodeURIComponent;

async function rosterOn(server: TestServer, roomId: string): Promise<{ epoch: number; members: number; pending: number } | null> {
  const res = await server.fetch(`/_switchboard/admin/v1/rooms/${enc(roomId)}/mls`, { headers: ADMIN });
  return ((await res.json()) as { roster: { epoch: number; members: number; pending: number } | null }).roster;
}

async function refusal(p: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await p;
  } catch (e) {
    if (e instanceof MatrixApiError) return { status: e.status, ...(e.body as object) };
    throw e;
  }
  throw new Error("expected the server to refuse");
}

/** The event on `server` in `roomId` matching `match`, once it is there. */
function arrived(server: TestServer, roomId: string, match: (e: StoredPdu) => boolean, what: string): Promise<StoredPdu> {
  return eventually(async () => (await storedEvents(server, roomId)).find(match), `${what} on ${server.name}`, 20_000);
}

const withField = (field: string, value: string) => (e: StoredPdu) => e.pdu.content[field] === value;
const latestMember = async (server: TestServer, roomId: string, userId: string) =>
  (await storedEvents(server, roomId)).filter((e) => e.pdu.type === "m.room.member" && e.pdu["state_key"] === userId).at(-1);

describe("one MLS group spanning an LM room and its paired Matrix room", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let part: TestServer;
  let mesh: TestServer;
  let alice: MlsMember; // on the hub, owns the LM room
  let carol: MlsMember; // on the LM participant
  let dave: MlsMember; // on the Matrix server
  let fay: MlsMember; // on the Matrix server, leaves
  let erin: TestClient; // on the Matrix server, no device in the group
  let lm: string;
  let mx: string;
  /** The commit that started the current epoch, as each room knows it. */
  const current = { lm: "", mx: "" };

  beforeAll(async () => {
    servers = await startServers([HUB, "cp.test", "cm.test"]);
    [hub, part, mesh] = servers as [TestServer, TestServer, TestServer];
    alice = await MlsMember.register(hub, "alice", "ALICE");
    carol = await MlsMember.register(part, "carol", "CAROL");
    dave = await MlsMember.register(mesh, "dave", "DAVE");
    fay = await MlsMember.register(mesh, "fay", "FAY");
    erin = await TestClient.register(mesh, "erin");
    for (const m of [alice, carol, dave, fay]) await m.publish(2);
  });
  afterAll(() => stopServers(servers));

  const mxGhost = (userId: string) => ghostUserId("mx", userId, HUB) as string;
  const lmGhost = (userId: string) => ghostUserId("lm", userId, HUB) as string;

  /** A commit by an LM member: accepted by the hub when the send returns; its copy in the Matrix room (on the hub) is found by its bytes. */
  async function commitInLm(m: MlsMember, options: Parameters<MlsMember["mls"]["commit"]>[0] = {}) {
    const pending = await m.mls.commit(options);
    const lmId = await m.sendCommit(lm, pending);
    const copy = await arrived(hub, mx, withField("message", pending.message), "the commit's copy");
    expect(copy.pdu.content[PROVENANCE_KEY]).toMatchObject({ room_id: lm, event_id: lmId });
    Object.assign(current, { lm: lmId, mx: copy.event_id });
    return pending;
  }

  /** A commit by the Matrix-side member: adopted once its copy is in the LM room on the hub (the group's order). */
  async function commitInMx(readers: MlsMember[], options: Parameters<MlsMember["mls"]["commit"]>[0] = {}): Promise<string> {
    const pending = await dave.mls.commit(options);
    const mxId = await dave.send(mx, "m.mls.commit", { message: pending.message });
    const copy = await arrived(hub, lm, withField("message", pending.message), "dave's commit in the LM room");
    expect(copy.pdu.sender).toBe(mxGhost(dave.userId));
    dave.mls.confirm(pending);
    Object.assign(current, { lm: copy.event_id, mx: mxId });
    for (const m of readers) await m.catchUpTo(lm, copy.event_id);
    return pending.message;
  }

  it("pairs an MLS LM room with a Matrix room, where the Matrix users' joins become their ghosts' joins", async () => {
    ({ room_id: lm } = await alice.client.createRoom({ room_version: LM_ROOM_VERSION_ID, preset: "public_chat", creation_content: { encryption: { algorithm: ROOM_ALGORITHM } } }));
    await carol.client.join(lm, HUB);
    mx = await pairPublic(hub, lm, alice.userId);
    for (const c of [dave.client, fay.client, erin]) await c.join(mx, HUB);
    for (const u of [dave.userId, fay.userId, erin.userId]) {
      await eventually(async () => ((await latestMember(part, lm, mxGhost(u)))?.pdu.content["membership"] === "join" ? true : undefined), `${u}'s ghost joined on cp.test`);
    }
    // The Matrix room's clients learn from its own state that the room is MLS-encrypted.
    const encryption = (await storedEvents(hub, mx)).find((e) => e.pdu.type === "m.room.encryption");
    expect(encryption?.pdu.content).toEqual({ algorithm: ROOM_ALGORITHM });
  });

  it("adds the Matrix user's device to the LM room's group: the roster counts the ghost's join as the user's, and the Welcome reaches the device by to-device", async () => {
    await carol.mls.createGroup(lm);
    await commitInLm(carol);
    const claimed = await carol.client.request<{ one_time_keys: Record<string, Record<string, Record<string, string>>>; failures: Record<string, unknown> }>("POST", "/keys/claim", {
      one_time_keys: { [alice.userId]: { ALICE: KEY_PACKAGE_ALGORITHM }, [dave.userId]: { DAVE: KEY_PACKAGE_ALGORITHM }, [fay.userId]: { FAY: KEY_PACKAGE_ALGORITHM } },
    });
    expect(claimed.failures).toEqual({});
    const packages = [alice, dave, fay].map((m) => Object.values(claimed.one_time_keys[m.userId]?.[m.deviceId] ?? {})[0] as string);
    const add = await commitInLm(carol, { add: packages });
    expect(await rosterOn(hub, lm)).toMatchObject({ epoch: 2, members: 4, pending: 0 });
    // The participant follows the same roster: it resolves the ghosts the same way.
    await eventually(async () => ((await rosterOn(part, lm))?.epoch === 2 ? true : undefined), "cp.test's roster at epoch 2");
    expect(await rosterOn(part, lm)).toEqual(await rosterOn(hub, lm));

    // The Welcome names the LM commit; dave's client finds its Matrix copy by the provenance block.
    const welcome = { algorithm: WELCOME_ALGORITHM, ciphertext: add.welcome, commit_event_id: current.lm, room_id: lm };
    await carol.sendToDevice("m.room.encrypted", { [alice.userId]: { ALICE: welcome }, [dave.userId]: { DAVE: welcome }, [fay.userId]: { FAY: welcome } });
    for (const m of [alice, dave, fay]) {
      const got = await m.receive((e: ToDeviceEvent) => e.content["algorithm"] === WELCOME_ALGORITHM && e.content["commit_event_id"] === current.lm, "the Welcome");
      await m.mls.join(got.content["ciphertext"] as string);
      expect(m.mls.epoch).toBe(carol.mls.epoch);
    }
  });

  it("carries MLS messages both ways byte for byte, each naming its own room's copy of the epoch's commit, and each side decrypts the other", async () => {
    const fromLm = await carol.encrypted("from the LM side", current.lm);
    const lmId = await carol.send(lm, "m.room.encrypted", fromLm);
    const inMx = await arrived(mesh, mx, withField("ciphertext", fromLm["ciphertext"] as string), "carol's message");
    expect(inMx.pdu.content["commit_event_id"]).toBe(current.mx);
    expect(inMx.pdu.content[PROVENANCE_KEY]).toMatchObject({ event_id: lmId, content: { commit_event_id: current.lm } });
    expect(await dave.mls.decrypt(inMx.pdu.content["ciphertext"] as string)).toBe("from the LM side");

    const fromMx = await dave.encrypted("from the Matrix side", current.mx);
    await dave.send(mx, "m.room.encrypted", fromMx);
    const ct = fromMx["ciphertext"] as string;
    const inLm = await arrived(part, lm, withField("ciphertext", ct), "dave's message");
    expect(inLm.pdu.sender).toBe(mxGhost(dave.userId));
    expect(inLm.pdu.content["commit_event_id"]).toBe(current.lm);
    for (const m of [alice, carol]) expect(await m.mls.decrypt(ct)).toBe("from the Matrix side");
    // The same bytes on the participant, the hub (both rooms) and the Matrix server.
    const copies = [...(await storedEvents(part, lm)), ...(await storedEvents(hub, lm)), ...(await storedEvents(hub, mx)), ...(await storedEvents(mesh, mx))].filter(withField("ciphertext", ct));
    expect(copies).toHaveLength(4);
  });

  it("accepts a commit from the Matrix side in the LM room, made by the ghost for the user whose device sits at the leaf", async () => {
    // Fay reads it in the Matrix room, where dave sent it.
    await fay.mls.processCommit(await commitInMx([alice, carol]));
    expect(await rosterOn(hub, lm)).toMatchObject({ epoch: 3, members: 4 });
    // The LM message names the LM copy; its Matrix copy names dave's original commit again.
    const content = await alice.encrypted("after dave's commit", current.lm);
    await alice.send(lm, "m.room.encrypted", content);
    const inMx = await arrived(mesh, mx, withField("ciphertext", content["ciphertext"] as string), "alice's message");
    expect(inMx.pdu.content["commit_event_id"]).toBe(current.mx);
    expect(await dave.mls.decrypt(inMx.pdu.content["ciphertext"] as string)).toBe("after dave's commit");
  });

  it("tells the Matrix room when the LM room refuses a commit made there because another won its epoch; the Matrix-side clients adopt the winner", async () => {
    const late = await dave.mls.commit();
    const won = await commitInLm(alice);
    const lateId = await dave.send(mx, "m.mls.commit", { message: late.message });
    const notice = await arrived(mesh, mx, (e) => e.pdu.type === COMMIT_REFUSED_EVENT && e.pdu.content["commit_event_id"] === lateId, "the refusal notice");
    expect(notice.pdu.sender).toBe(serviceUserId(HUB));
    expect(notice.pdu.content["reason"]).toContain("wrong_epoch");
    expect((await storedEvents(hub, lm)).filter(withField("message", late.message))).toEqual([]);
    // Dave drops his commit and follows the winner, as the other members do.
    for (const m of [dave, fay]) await m.mls.processCommit(won.message);
    await carol.catchUpTo(lm, current.lm);
    const content = await carol.encrypted("after the race", current.lm);
    await carol.send(lm, "m.room.encrypted", content);
    const inMx = await arrived(mesh, mx, withField("ciphertext", content["ciphertext"] as string), "carol's message");
    for (const m of [dave, fay]) expect(await m.mls.decrypt(inMx.pdu.content["ciphertext"] as string)).toBe("after the race");
  });

  it("removes a Matrix user who leaves the Matrix room from the LM room, and refuses messages until a commit removes their device", async () => {
    await fay.client.leave(mx);
    await eventually(async () => ((await latestMember(hub, lm, mxGhost(fay.userId)))?.pdu.content["membership"] === "leave" ? true : undefined), "fay's ghost left the LM room");
    expect(await rosterOn(hub, lm)).toMatchObject({ pending: 1 });
    expect(await refusal(alice.send(lm, "m.room.encrypted", await alice.encrypted("too early", current.lm)))).toMatchObject({ status: 403, mls_code: "pending_removals" });
    await commitInMx([alice, carol], { remove: [dave.mls.leafOf(fay.userId, fay.deviceId) as number] });
    expect(await rosterOn(hub, lm)).toMatchObject({ members: 3, pending: 0 });
  });

  it("bans an LM user's ghost in the Matrix room when they are banned in the LM room; the Matrix member's commit removes their device", async () => {
    await alice.client.ban(lm, carol.userId);
    const ban = await eventually(async () => {
      const m = await latestMember(mesh, mx, lmGhost(carol.userId));
      return m?.pdu.content["membership"] === "ban" ? m : undefined;
    }, "carol's ghost banned on cm.test");
    expect(ban.pdu.sender).toBe(serviceUserId(HUB));
    expect(await rosterOn(hub, lm)).toMatchObject({ pending: 1 });
    const blocked = await refusal(alice.send(lm, "m.room.encrypted", await alice.encrypted("too early", current.lm)));
    expect(blocked).toMatchObject({ status: 403, mls_code: "pending_removals" });

    await commitInMx([alice], { remove: [carol.mls.leafOf(carol.userId, carol.deviceId) as number] });
    expect(await rosterOn(hub, lm)).toMatchObject({ members: 2, pending: 0 });
    const content = await alice.encrypted("carol is gone", current.lm);
    await alice.send(lm, "m.room.encrypted", content);
    const inMx = await arrived(mesh, mx, withField("ciphertext", content["ciphertext"] as string), "alice's message");
    expect(await dave.mls.decrypt(inMx.pdu.content["ciphertext"] as string)).toBe("carol is gone");
  });

  it("turns a Matrix-room ban into the ghost's leave while the service user cannot ban in the LM room, and into a ban once it can; the banned device owes removal", async () => {
    await alice.client.ban(mx, erin.userId);
    const erinGhost = await eventually(async () => {
      const m = await latestMember(hub, lm, mxGhost(erin.userId));
      return m?.pdu.content["membership"] === "leave" ? m : undefined;
    }, "erin's ghost gone from the LM room");
    expect(erinGhost.pdu.sender).toBe(mxGhost(erin.userId));
    expect(erinGhost.pdu.content[PROVENANCE_KEY]).toMatchObject({ room_id: mx, content: { membership: "ban" } });

    const levels = await alice.client.request<{ users: Record<string, number> }>("GET", `/rooms/${enc(lm)}/state/m.room.power_levels`);
    await alice.client.setState(lm, "m.room.power_levels", "", { ...levels, users: { ...levels.users, [serviceUserId(HUB)]: 50 } });
    await alice.client.ban(mx, dave.userId);
    const daveGhost = await eventually(async () => {
      const m = await latestMember(hub, lm, mxGhost(dave.userId));
      return m?.pdu.content["membership"] === "ban" ? m : undefined;
    }, "dave's ghost banned in the LM room");
    expect(daveGhost.pdu.sender).toBe(serviceUserId(HUB));
    expect(await rosterOn(hub, lm)).toMatchObject({ pending: 1 });
    expect(await refusal(alice.send(lm, "m.room.encrypted", await alice.encrypted("too early", current.lm)))).toMatchObject({ status: 403, mls_code: "pending_removals" });
    await commitInLm(alice, { remove: [alice.mls.leafOf(dave.userId, dave.deviceId) as number] });
    expect(await rosterOn(hub, lm)).toMatchObject({ members: 1, pending: 0 });
  });

  it("lifts the ghosts' bans on the other side when carol is unbanned in the LM room and dave in the Matrix room", async () => {
    await alice.client.unban(lm, carol.userId);
    await alice.client.unban(mx, dave.userId);
    const carolGhost = await eventually(async () => {
      // On the hub: no cm.test user is joined to the Matrix room now (dave and erin are banned, fay left).
      const m = await latestMember(hub, mx, lmGhost(carol.userId));
      return m?.pdu.content["membership"] === "leave" ? m : undefined;
    }, "carol's ghost unbanned in the Matrix room");
    expect(carolGhost.pdu.sender).toBe(serviceUserId(HUB));
    const daveGhost = await eventually(async () => {
      const m = await latestMember(hub, lm, mxGhost(dave.userId));
      return m?.pdu.content["membership"] === "leave" ? m : undefined;
    }, "dave's ghost unbanned in the LM room");
    expect(daveGhost.pdu.sender).toBe(serviceUserId(HUB));
    // Dave may come back: his join from cm.test becomes his ghost's join in the LM room again.
    await dave.client.join(mx, HUB);
    await eventually(async () => ((await latestMember(hub, lm, mxGhost(dave.userId)))?.pdu.content["membership"] === "join" ? true : undefined), "dave's ghost joined again");
  });
});
