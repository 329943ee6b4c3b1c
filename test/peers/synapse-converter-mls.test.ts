// One MLS group through the converter against a real Synapse: an MLS LM room on a Switchboard hub
// (alice) with a user on an LM participant server (carol) is paired with a Matrix v12 room that
// Synapse users join (sam with an MLS device; sue and tom without). Sam's client publishes its MLS
// credential and KeyPackages to Synapse, gets its Welcome by to-device through Synapse, and reads
// and sends m.mls.commit and m.room.encrypted through Synapse's client API; each side decrypts the
// other, the ciphertext bytes are the same on all three servers, and commit_event_id names each
// room's own copy of the commit. Bans cross both ways as bans (a leave while the service user
// lacks the power), and the banned user's device owes removal by the next commit. A Synapse-side
// commit that loses its epoch in the LM room is named in a notice Synapse's client reads.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ghostUserId, serviceUserId } from "../../shared/converter/ghost-user.js";
import { PROVENANCE_KEY } from "../../shared/converter/provenance.js";
import { COMMIT_REFUSED_EVENT } from "../../durable-objects/room/converter-refusal.js";
import { LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";
import { storedEvents } from "../federation/client.js";
import { stopServers, type TestServer } from "../federation/harness.js";
import { MLS_KEY_PACKAGE_ALGORITHM, PeerMlsDevice, ROOM_ALGORITHM, WELCOME_ALGORITHM } from "./mls-peer.js";
import { ApiError, eventually, startSwitchboards, synapse, User, type Homeserver } from "./peer.js";
import { createRoom, hasMembership, join, setState, timeline, type ClientEvent } from "./rooms.js";
import { pairPublic } from "../federation/converter-setup.js";

const enc = encodeURIComponent;
const ADMIN = { authorization: "Bearer test-admin-token" };

describe("one MLS group across the converter: an LM participant's device and a Synapse user's device", () => {
  let syn: Homeserver;
  let servers: TestServer[] = [];
  let hub: TestServer;
  let alice: PeerMlsDevice; // on the hub, owns the LM room
  let carol: PeerMlsDevice; // on the LM participant
  let sam: PeerMlsDevice; // on Synapse
  let sue: User; // on Synapse, watches the Matrix room
  let tom: User; // on Synapse
  let lm: string;
  let mx: string;
  const current = { lm: "", mx: "" };

  beforeAll(async () => {
    syn = synapse();
    servers = await startSwitchboards(syn, [10, 11]);
    const [h, part] = servers as [TestServer, TestServer];
    hub = h;
    const tag = Date.now().toString(36);
    [alice, carol, sam] = await Promise.all([PeerMlsDevice.register(hub, `alice-mls-${tag}`), PeerMlsDevice.register(part, `carol-mls-${tag}`), PeerMlsDevice.register(syn, `sam-mls-${tag}`)]);
    [sue, tom] = await Promise.all([User.register(syn, `sue-mls-${tag}`), User.register(syn, `tom-mls-${tag}`)]);
    for (const d of [alice, carol, sam]) await d.publish(2);
  });
  afterAll(async () => {
    if (servers.length) await stopServers(servers);
  });

  const mxGhost = (u: string) => ghostUserId("mx", u, hub.name) as string;
  const lmGhost = (u: string) => ghostUserId("lm", u, hub.name) as string;
  const roster = async () => ((await (await hub.fetch(`/_switchboard/admin/v1/rooms/${enc(lm)}/mls`, { headers: ADMIN })).json()) as { roster: { epoch: number; members: number; pending: number } }).roster;
  const find = (reader: PeerMlsDevice | User, roomId: string, field: string, value: string): Promise<ClientEvent> => {
    const u = reader instanceof PeerMlsDevice ? reader.user : reader;
    return eventually(`${field} ${value.slice(0, 12)}… on ${u.server.name}`, async () => (await timeline(u, roomId)).find((e) => e.content[field] === value));
  };
  const onHub = async (roomId: string, field: string, value: string) => (await storedEvents(hub, roomId)).filter((e) => e.pdu.content[field] === value);

  /** Adopted once the hub accepted it in the LM room; the Matrix copy is found on Synapse by its bytes. */
  async function commitInLm(by: PeerMlsDevice, options: Parameters<PeerMlsDevice["mls"]["commit"]>[0] = {}) {
    const pending = await by.mls.commit(options);
    const lmId = await by.send(lm, "m.mls.commit", { message: pending.message });
    by.mls.confirm(pending);
    const copy = await find(sue, mx, "message", pending.message);
    expect(copy.content[PROVENANCE_KEY]).toMatchObject({ room_id: lm, event_id: lmId });
    Object.assign(current, { lm: lmId, mx: copy.event_id });
    return pending;
  }

  /** Sam's commit through Synapse, adopted once the hub holds it in the LM room (the group's order). */
  async function commitBySam(readers: PeerMlsDevice[], options: Parameters<PeerMlsDevice["mls"]["commit"]>[0] = {}): Promise<void> {
    const pending = await sam.mls.commit(options);
    const mxId = await sam.send(mx, "m.mls.commit", { message: pending.message });
    const [copy] = await eventually("sam's commit in the LM room", async () => {
      const found = await onHub(lm, "message", pending.message);
      return found.length > 0 ? found : undefined;
    });
    expect(copy?.pdu.sender).toBe(mxGhost(sam.userId));
    sam.mls.confirm(pending);
    Object.assign(current, { lm: copy?.event_id, mx: mxId });
    for (const r of readers) await r.mls.processCommit((await find(r, lm, "message", pending.message)).content["message"] as string);
  }

  it("pairs an MLS LM room with a v12 room the Synapse users join", async () => {
    lm = await createRoom(alice.user, { room_version: LM_ROOM_VERSION_ID, preset: "public_chat", creation_content: { encryption: { algorithm: ROOM_ALGORITHM } } });
    await join(carol.user, lm, hub.name);
    mx = await pairPublic(hub, lm, alice.userId);
    for (const u of [sam.user, sue, tom]) await join(u, mx, hub.name);
    for (const u of [sam.user, tom]) await hasMembership(carol.user, lm, mxGhost(u.userId), "join");
  });

  it("adds the Synapse user's device (KeyPackage claimed from Synapse, credential checked against Synapse's device keys); the Welcome reaches it by to-device through Synapse", async () => {
    await carol.mls.createGroup(lm);
    await commitInLm(carol);
    const claimed = await carol.user.request<{ one_time_keys: Record<string, Record<string, Record<string, string>>>; failures: Record<string, unknown> }>("POST", "/keys/claim", {
      one_time_keys: { [alice.userId]: { [alice.deviceId]: MLS_KEY_PACKAGE_ALGORITHM }, [sam.userId]: { [sam.deviceId]: MLS_KEY_PACKAGE_ALGORITHM } },
    });
    const packages = [alice, sam].map((d) => Object.values(claimed.one_time_keys[d.userId]?.[d.deviceId] ?? {})[0] as string);
    expect(packages.every((p) => typeof p === "string")).toBe(true);
    const add = await commitInLm(carol, { add: packages });
    expect(await roster()).toMatchObject({ epoch: 2, members: 3, pending: 0 });

    const welcome = { algorithm: WELCOME_ALGORITHM, ciphertext: add.welcome, commit_event_id: current.lm, room_id: lm };
    await carol.sendToDevice({ [alice.userId]: { [alice.deviceId]: welcome }, [sam.userId]: { [sam.deviceId]: welcome } });
    for (const d of [alice, sam]) {
      const got = await d.receive((e) => e.content["algorithm"] === WELCOME_ALGORITHM && e.content["ciphertext"] === add.welcome, "the Welcome");
      expect(got.sender).toBe(carol.userId);
      await d.mls.join(got.content["ciphertext"] as string);
      expect(d.mls.epoch).toBe(carol.mls.epoch);
    }
  });

  it("carries MLS messages both ways with identical ciphertext on the participant, the hub and Synapse; each side decrypts the other's", async () => {
    const fromLm = await carol.encrypted("from the LM participant", current.lm);
    await carol.send(lm, "m.room.encrypted", fromLm);
    const onSynapse = await find(sam, mx, "ciphertext", fromLm["ciphertext"] as string);
    expect(onSynapse.sender).toBe(lmGhost(carol.userId));
    expect(onSynapse.content["commit_event_id"]).toBe(current.mx);
    expect(await sam.mls.decrypt(onSynapse.content["ciphertext"] as string)).toBe("from the LM participant");

    const fromMx = await sam.encrypted("from Synapse", current.mx);
    const ct = fromMx["ciphertext"] as string;
    await sam.send(mx, "m.room.encrypted", fromMx);
    const onPart = await find(carol, lm, "ciphertext", ct);
    expect(onPart.sender).toBe(mxGhost(sam.userId));
    expect(onPart.content["commit_event_id"]).toBe(current.lm);
    for (const d of [carol, alice]) expect(await d.mls.decrypt(ct)).toBe("from Synapse");
    expect((await find(sue, mx, "ciphertext", ct)).content["ciphertext"]).toBe(ct);
    expect([...(await onHub(lm, "ciphertext", ct)), ...(await onHub(mx, "ciphertext", ct))]).toHaveLength(2);
  });

  it("accepts the Synapse user's commit, sent through Synapse, in the LM room's group; the reply names Synapse's own commit event", async () => {
    await commitBySam([carol, alice]);
    expect(await roster()).toMatchObject({ epoch: 3, members: 3 });
    const content = await carol.encrypted("after sam's commit", current.lm);
    await carol.send(lm, "m.room.encrypted", content);
    const onSynapse = await find(sam, mx, "ciphertext", content["ciphertext"] as string);
    expect(onSynapse.content["commit_event_id"]).toBe(current.mx);
    expect(await sam.mls.decrypt(onSynapse.content["ciphertext"] as string)).toBe("after sam's commit");
  });

  it("names, on Synapse, the Synapse user's commit that lost its epoch in the LM room; the Synapse client follows the winner", async () => {
    const late = await sam.mls.commit();
    const won = await commitInLm(carol);
    const lateId = await sam.send(mx, "m.mls.commit", { message: late.message });
    const notice = await eventually("the refusal notice on Synapse", async () => (await timeline(sam.user, mx)).find((e) => e.type === COMMIT_REFUSED_EVENT && e.content["commit_event_id"] === lateId));
    expect(notice.sender).toBe(serviceUserId(hub.name));
    expect(await onHub(lm, "message", late.message)).toEqual([]);
    await sam.mls.processCommit(won.message);
    await alice.mls.processCommit((await find(alice, lm, "message", won.message)).content["message"] as string);
    const content = await carol.encrypted("after the race", current.lm);
    await carol.send(lm, "m.room.encrypted", content);
    expect(await sam.mls.decrypt((await find(sam, mx, "ciphertext", content["ciphertext"] as string)).content["ciphertext"] as string)).toBe("after the race");
  });

  it("bans the LM participant's ghost on Synapse when the LM room bans them, and the Synapse user's commit removes their device", async () => {
    await alice.user.request("POST", `/rooms/${enc(lm)}/ban`, { user_id: carol.userId, reason: "test" });
    await hasMembership(sue, mx, lmGhost(carol.userId), "ban");
    const ban = (await timeline(sue, mx)).filter((e) => e.type === "m.room.member" && e.state_key === lmGhost(carol.userId)).at(-1);
    expect(ban?.sender).toBe(serviceUserId(hub.name));
    expect(await roster()).toMatchObject({ pending: 1 });
    await commitBySam([alice], { remove: [sam.mls.leafOf(carol.userId, carol.deviceId) as number] });
    expect(await roster()).toMatchObject({ members: 2, pending: 0 });
    const content = await alice.encrypted("carol is gone", current.lm);
    await alice.send(lm, "m.room.encrypted", content);
    expect(await sam.mls.decrypt((await find(sam, mx, "ciphertext", content["ciphertext"] as string)).content["ciphertext"] as string)).toBe("carol is gone");
  });

  it("turns a ban on the Matrix side into the ghost's leave while the service user cannot ban in the LM room, then into a ban; messages wait for the removal commit", async () => {
    await alice.user.request("POST", `/rooms/${enc(mx)}/ban`, { user_id: tom.userId });
    await hasMembership(alice.user, lm, mxGhost(tom.userId), "leave");

    const levels = await alice.user.request<{ users: Record<string, number> }>("GET", `/rooms/${enc(lm)}/state/m.room.power_levels`);
    await setState(alice.user, lm, "m.room.power_levels", "", { ...levels, users: { ...levels.users, [serviceUserId(hub.name)]: 50 } });
    await alice.user.request("POST", `/rooms/${enc(mx)}/ban`, { user_id: sam.userId });
    await hasMembership(sue, mx, sam.userId, "ban");
    await hasMembership(alice.user, lm, mxGhost(sam.userId), "ban");
    expect(await roster()).toMatchObject({ pending: 1 });
    const early = await alice.send(lm, "m.room.encrypted", await alice.encrypted("too early", current.lm)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(early).toBeInstanceOf(ApiError);
    expect((early as ApiError).body).toMatchObject({ mls_code: "pending_removals" });
    await commitInLm(alice, { remove: [alice.mls.leafOf(sam.userId, sam.deviceId) as number] });
    expect(await roster()).toMatchObject({ members: 1, pending: 0 });
  });
});
