// matrix-js-sdk, unmodified, against two Switchboard servers federating over loopback: registration
// through the SDK's interactive auth, login, startClient's sync loop, a federated invite and join,
// messages both ways and a room rename. Every HTTP exchange the SDK makes is recorded, so the test
// also shows the SDK met no endpoint we lack.

import {
  ClientEvent,
  createClient,
  InteractiveAuth,
  MatrixError,
  RoomEvent,
  RoomMemberEvent,
  type MatrixClient,
  type MatrixEvent,
  type Room,
  type RoomMember,
} from "matrix-js-sdk";
import { logger as sdkLogger } from "matrix-js-sdk/lib/logger.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServers, stopServers, type TestServer } from "../federation/harness.js";

interface Exchange {
  method: string;
  path: string;
  status: number;
  at: number;
}

/** A fetch that records each exchange (method, path without query, status) for one client. */
function recordingFetch(log: Exchange[]): typeof fetch {
  return async (input, init) => {
    const req = new Request(input, init);
    const res = await fetch(req);
    log.push({ method: req.method, path: new URL(req.url).pathname, status: res.status, at: Date.now() });
    return res;
  };
}

/** Resolves with the first value `subscribe` hands to `done`, or rejects after `ms`. */
function waitFor<T>(what: string, ms: number, subscribe: (done: (v: T) => void) => () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let unsubscribe: () => void = () => undefined;
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`Timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    unsubscribe = subscribe((v) => {
      clearTimeout(timer);
      unsubscribe();
      resolve(v);
    });
  });
}

interface Account {
  userId: string;
  client: MatrixClient;
  log: Exchange[];
  /** What the server answered to the first, auth-less register call. */
  challenge: { flows?: Array<{ stages: string[] }>; session?: string };
}

/** Registers through the SDK's InteractiveAuth (401 flows/session, then m.login.dummy), then logs in. */
async function signUp(server: TestServer, username: string, password: string): Promise<Account> {
  const log: Exchange[] = [];
  const anon = createClient({ baseUrl: server.url, fetchFn: recordingFetch(log) });
  let challenge: Account["challenge"] = {};
  const auth = new InteractiveAuth({
    matrixClient: anon,
    doRequest: async (authDict) => {
      try {
        return await anon.registerRequest({ username, password, ...(authDict ? { auth: authDict } : {}) });
      } catch (e) {
        if (e instanceof MatrixError && e.httpStatus === 401) challenge = e.data as Account["challenge"];
        throw e;
      }
    },
    stateUpdated: () => undefined,
    requestEmailToken: () => Promise.reject(new Error("no e-mail stage expected")),
  });
  await auth.attemptAuth();
  const login = await anon.loginRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: username }, password });
  const client = createClient({
    baseUrl: server.url,
    accessToken: login.access_token,
    userId: login.user_id,
    deviceId: login.device_id,
    fetchFn: recordingFetch(log),
  });
  return { userId: login.user_id, client, log, challenge };
}

/** startClient, then wait for the first sync to finish (PREPARED). */
async function start(client: MatrixClient): Promise<void> {
  const prepared = waitFor<void>("the first sync", 30_000, (done) => {
    const onSync = (state: string) => {
      if (state === "PREPARED") done();
    };
    client.on(ClientEvent.Sync, onSync);
    return () => client.off(ClientEvent.Sync, onSync);
  });
  await client.startClient({ initialSyncLimit: 20 });
  await prepared;
}

/** How many /sync responses this client received between `from` and `to` (ms timestamps). */
const syncsBetween = (log: Exchange[], from: number, to: number) =>
  log.filter((x) => x.path.endsWith("/sync") && x.at > from && x.at < to).length;

/**
 * Resolves when `client` receives a remote timeline event in the room whose body is `text` (the
 * listener must exist before the send: the event can arrive before the sender's request returns).
 */
function timelineMessage(client: MatrixClient, roomId: string, text: string): Promise<{ event: MatrixEvent; at: number }> {
  return waitFor(`the message "${text}"`, 20_000, (done) => {
    const onTimeline = (event: MatrixEvent, room: Room | undefined) => {
      if (room?.roomId === roomId && event.getType() === "m.room.message" && event.getContent()["body"] === text) done({ event, at: Date.now() });
    };
    client.on(RoomEvent.Timeline, onTimeline);
    return () => client.off(RoomEvent.Timeline, onTimeline);
  });
}

describe("matrix-js-sdk against two federating servers", () => {
  let servers: TestServer[] = [];
  let alice: Account;
  let bob: Account;
  let roomId: string;
  const previousLevel = sdkLogger.getLevel();

  beforeAll(async () => {
    // The SDK logs every sync at info level; keep the test output to warnings.
    sdkLogger.setLevel("warn");
    servers = await startServers(["one.test", "two.test"]);
  });

  afterAll(async () => {
    alice?.client.stopClient();
    bob?.client.stopClient();
    await stopServers(servers);
    sdkLogger.setLevel(previousLevel);
  });

  it("registers through the SDK's interactive auth (401 with flows and session, then m.login.dummy) and logs in", async () => {
    alice = await signUp(servers[0] as TestServer, "alice", "alice's password");
    bob = await signUp(servers[1] as TestServer, "bob", "bob's password");
    expect(alice.userId).toBe("@alice:one.test");
    expect(bob.userId).toBe("@bob:two.test");
    expect(alice.challenge.flows?.some((f) => f.stages.includes("m.login.dummy"))).toBe(true);
    expect(typeof alice.challenge.session).toBe("string");
    const registers = alice.log.filter((x) => x.path.endsWith("/register")).map((x) => x.status);
    expect(registers).toEqual([401, 200]);
  });

  it("starts both clients: the startup requests (versions, pushrules, capabilities, filter, sync) all succeed", async () => {
    await Promise.all([start(alice.client), start(bob.client)]);
    for (const who of [alice, bob]) {
      const paths = who.log.map((x) => x.path);
      expect(paths).toContain("/_matrix/client/v3/pushrules/");
      expect(paths).toContain("/_matrix/client/v3/sync");
      expect(paths).toContain("/_matrix/client/versions");
    }
    const caps = await alice.client.getCapabilities();
    expect(caps["m.room_versions"]?.default).toBe("org.matrix.i-d.ralston-mimi-linearized-matrix.02");
  });

  it("shows bob the invite through sync and lets him join the room hosted on the other server", async () => {
    const invited = waitFor<RoomMember>("bob's invite", 20_000, (done) => {
      const onMembership = (_e: MatrixEvent, member: RoomMember) => {
        if (member.userId === bob.userId && member.membership === "invite") done(member);
      };
      bob.client.on(RoomMemberEvent.Membership, onMembership);
      return () => bob.client.off(RoomMemberEvent.Membership, onMembership);
    });
    roomId = (await alice.client.createRoom({ name: "Original name" })).room_id;
    await alice.client.invite(roomId, bob.userId);
    const member = await invited;
    expect(member.roomId).toBe(roomId);
    expect(bob.client.getRoom(roomId)?.getMyMembership()).toBe("invite");

    const joinedSeen = waitFor<void>("bob's join in alice's client", 20_000, (done) => {
      const onMembership = (_e: MatrixEvent, m: RoomMember) => {
        if (m.roomId === roomId && m.userId === bob.userId && m.membership === "join") done();
      };
      alice.client.on(RoomMemberEvent.Membership, onMembership);
      return () => alice.client.off(RoomMemberEvent.Membership, onMembership);
    });
    await bob.client.joinRoom(roomId);
    await joinedSeen;
    const bobsRoom = await waitFor<Room>("bob's joined room", 20_000, (done) => {
      const check = () => {
        const r = bob.client.getRoom(roomId);
        if (r?.getMyMembership() === "join" && r.name === "Original name") done(r);
      };
      check();
      bob.client.on(ClientEvent.Sync, check);
      return () => bob.client.off(ClientEvent.Sync, check);
    });
    // The state from before bob's join reached his client: alice's membership and her power.
    expect(bobsRoom.getJoinedMembers().map((m) => m.userId).sort()).toEqual([alice.userId, bob.userId].sort());
    expect(bobsRoom.getMember(alice.userId)?.powerLevel).toBe(100);
    expect(bobsRoom.currentState.getStateEvents("m.room.create", "")?.getSender()).toBe(alice.userId);
  });

  it("delivers each side's message to the other within one sync cycle", async () => {
    for (const [from, to, text] of [
      [alice, bob, "hello from one.test"],
      [bob, alice, "hello back from two.test"],
    ] as const) {
      const arrived = timelineMessage(to.client, roomId, text);
      const sentAt = Date.now();
      const { event_id } = await from.client.sendTextMessage(roomId, text);
      const { event, at } = await arrived;
      expect(event.getId()).toBe(event_id);
      expect(event.getSender()).toBe(from.userId);
      // A long poll was waiting when the message was sent; it must be the response that carries it.
      expect(syncsBetween(to.log, sentAt, at)).toBeLessThanOrEqual(1);
    }
  });

  it("shows bob the new name when alice renames the room", async () => {
    const renamed = waitFor<string>("the new room name", 20_000, (done) => {
      const onName = (room: Room) => {
        if (room.roomId === roomId && room.name === "Renamed by alice") done(room.name);
      };
      bob.client.on(RoomEvent.Name, onName);
      return () => bob.client.off(RoomEvent.Name, onName);
    });
    await alice.client.setRoomName(roomId, "Renamed by alice");
    expect(await renamed).toBe("Renamed by alice");
    expect(bob.client.getRoom(roomId)?.currentState.getStateEvents("m.room.name", "")?.getSender()).toBe(alice.userId);
  });

  it("met no unrecognized endpoint and no server error along the way", async () => {
    alice.client.stopClient();
    bob.client.stopClient();
    const failures = [...alice.log, ...bob.log].filter((x) => x.status >= 400 && !(x.path.endsWith("/register") && x.status === 401));
    expect(failures).toEqual([]);
  });
});
