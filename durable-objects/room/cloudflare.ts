// The Room object's parts wired to Cloudflare: SQLite storage, the alarm, RPC stubs of the Worker's
// Outbound service and of the destination and user-stream objects. Only the facade calls this; the
// engine sees the ports, so tests can run it on in-memory fakes.

import { memberProposalGraceMs } from "../../shared/mls-member-proposal-rules.js";
import type { Pdu } from "../../shared/event.js";
import type { AllowedRoomFacts } from "../../shared/restricted-join.js";
import type { RoomState, StrippedStateEvent } from "../../shared/room-state.js";
import { parseSigningKeySecret, type SigningKey } from "../../shared/signing-key.js";
import { indexEvents } from "../event-index.js";
import { BackfillStore } from "../room-backfill-storage.js";
import { backlogLimit, FanOutBackpressure } from "../room-backpressure.js";
import { FanOutLog } from "../room-fanout.js";
import { RoomEphemeral } from "../room-ephemeral.js";
import { RoomMls } from "../room-mls.js";
import { FollowerSet, RoomMimiStorage } from "../room-mimi-storage.js";
import { ReceiptStorage } from "../room-receipts-storage.js";
import { DagStorage } from "../room-dag-storage.js";
import { RelationsStore } from "../room-relations-storage.js";
import { RoomStorage } from "../room-storage.js";
import { ConverterStorage } from "../room-converter-storage.js";
import { ConverterImport } from "./converter-import.js";
import { SeenKeys } from "./converter-seen.js";
import { ConverterListener } from "./converter.js";
import { commitRefusal } from "./converter-refusal.js";
import { serviceUserId } from "../../shared/converter/ghost-user.js";
import type { CommitListener, RoomCore } from "./core.js";
import { EventIndexer } from "./event-indexer.js";
import { MimiNotifier } from "./mimi-notify.js";
import { MimiWelcomes, type WelcomeMessage } from "./mimi-welcome.js";
import { MimiWelcomeStorage } from "../room-mimi-welcome-storage.js";
import { GroupInfoKeeper } from "./mimi-group-info.js";
import { HubProposalFanout } from "./mls-hub-fanout.js";
import { MlsListener } from "./mls-listener.js";
import { LocalNotifier, strippedOf } from "./notifier.js";
import { Outbox } from "./outbox.js";
import type { EnginePorts } from "./ports.js";
import { RoomReads } from "./reads.js";
import { RelationReads } from "./relation-reads.js";
import { RelationsListener } from "./relations-listener.js";

export interface RoomParts {
  store: RoomStorage;
  /** Full-mesh rooms: the graph's depths, statuses, state groups and forward extremities. */
  dag: DagStorage;
  /** MLS rooms: roster, accepted commits, held Welcomes, and the encryption checks (room-mls.ts). */
  mls: RoomMls;
  outbox: Outbox;
  /** MIMI: followers, notify queue, GroupInfo, held proposals (room-mimi-storage.ts), and notify fan-out. */
  mimi: { store: RoomMimiStorage; followers: FollowerSet; notifier: MimiNotifier; welcomes: MimiWelcomes };
  indexer: EventIndexer;
  notifier: LocalNotifier;
  /** Paired rooms: the dedup table and the queue of events to carry into the peer room. */
  converterStore: ConverterStorage;
  converter: ConverterListener;
  converterImport: ConverterImport;
  /** In the order they hear of each commit. */
  listeners: CommitListener[];
  reads: RoomReads;
  /** Typing (memory) and read receipts (durable), with their notices and EDUs. */
  ephemeral: RoomEphemeral;
  /** Threads, edits and reactions: the relations index and its reads. */
  relations: RelationReads;
  ports: EnginePorts;
  /** An invite for a local user to a room hosted elsewhere (kept until they join or reject it); their stream learns of it. */
  storeInvite(userId: string, pdu: Pdu, stripped: StrippedStateEvent[], origin: string, roomVersion: string | undefined): Promise<void>;
  /** Restricted joins: what another room on this server knows of a user (room/restricted-join.ts). */
  allowedRoomFacts(roomId: string, userId: string): Promise<AllowedRoomFacts>;
}

function retryMs(v: string | undefined, fallback: number): number {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

export function roomParts(ctx: DurableObjectState, env: Env, state: RoomState, core: () => RoomCore | undefined): RoomParts {
  const transaction = (fn: () => void): void => ctx.storage.transactionSync(fn);
  const waitUntil = (p: Promise<unknown>): void => ctx.waitUntil(p);
  /** Makes sure the alarm fires within `ms` (it may be due sooner for another reason). */
  const alarmWithin = async (ms: number): Promise<void> => {
    const at = Date.now() + ms;
    const current = await ctx.storage.getAlarm();
    if (current === null || current > at) await ctx.storage.setAlarm(at);
  };
  const destination = (server: string) => env.DESTINATION.get(env.DESTINATION.idFromName(server));
  const stream = (userId: string) => env.USER_STREAM.get(env.USER_STREAM.idFromName(userId));
  let signingKey: Promise<SigningKey> | undefined;

  const store = new RoomStorage(ctx.storage);
  // After RoomStorage: its first migration indexes the events already stored.
  const relationsIndex = new RelationsStore(ctx.storage);
  const fanOut = new FanOutLog(ctx.storage);
  const mls = new RoomMls(ctx.storage, {
    state,
    eventById: (id) => core()?.eventById(id),
    // RPC answers arrive as plain data of the documented shape (Outbound.mlsDevices).
    lookupDevices: (query) => env.OUTBOUND.mlsDevices(query),
    serverName: env.SERVER_NAME,
    memberProposalGraceMs: memberProposalGraceMs(env.MIMI_PROPOSAL_GRACE_MS),
    hasMimiFollowers: () => followers.list().length > 0,
  });
  const outbox = new Outbox(fanOut, new FanOutBackpressure(backlogLimit(env.FANOUT_BACKLOG_LIMIT)), { announce: async (d, roomId, pos) => void (await destination(d).roomHasEvents(d, roomId, pos)), alarmWithin, waitUntil, transaction });
  const indexer = new EventIndexer(fanOut, { indexEvents: (roomId, ids) => indexEvents(env.DB, roomId, ids), alarmWithin });
  const notifier = new LocalNotifier(env.SERVER_NAME, state, { notify: async (u, roomId, n) => void (await stream(u).notify(roomId, n.pos, n.membership, n.inviteStateJson)) }, waitUntil);
  const mimiStore = new RoomMimiStorage(ctx.storage);
  const followers = new FollowerSet(mimiStore);
  const mimiNotifier = new MimiNotifier(
    mimiStore,
    followers,
    { deliver: (provider, roomId, row) => env.OUTBOUND.mimiNotify(provider, roomId, { kind: row.kind, ts: row.ts, message: row.message }), alarmWithin, waitUntil, now: () => Date.now() },
    { baseMs: retryMs(env.FEDERATION_RETRY_BASE_MS, 500), maxMs: retryMs(env.FEDERATION_RETRY_MAX_MS, 60_000) },
  );
  const ephemeral = new RoomEphemeral(new ReceiptStorage(ctx.storage), {
    serverName: env.SERVER_NAME,
    localMembers: () => [...state.joinedUsersOf(env.SERVER_NAME)],
    remoteServers: () => state.joinedServers().filter((s) => s !== env.SERVER_NAME),
    tellStreams: async (users, roomId) => void (await Promise.all(users.map((u) => stream(u).ephemeralChanged(roomId).catch((e) => console.error("ephemeral notice failed", u, e))))),
    sendEdu: async (servers, id, json) => void (await Promise.all(servers.map((s) => destination(s).enqueue(s, [{ roomId: "", id, json, kind: "edu" }])))),
  });
  const converterStore = new ConverterStorage(ctx.storage);
  const seenKeys = new SeenKeys(converterStore);
  const converter = new ConverterListener(env.SERVER_NAME, state, converterStore, core, {
    deliver: async (target, item) => {
      const r = await env.ROOM.get(env.ROOM.idFromName(target)).importConverted(item);
      if (r.outcome !== "rejected") return;
      console.warn(`converter: ${item.eventId} into ${target} refused: ${r.reason}`);
      const refusal = commitRefusal(item, target, r.reason);
      if (refusal) await env.ROOM.get(env.ROOM.idFromName(item.sourceRoomId)).send(serviceUserId(env.SERVER_NAME), refusal.event, { deviceId: "_converter", txnId: refusal.txnId });
    },
    waitUntil,
    alarmWithin,
  }, seenKeys);
  const mimiWelcomes = new MimiWelcomes({
    identity: () => {
      const c = core();
      return c && { roomId: c.roomId, hub: c.identity.hub, linearized: c.version.linearized };
    },
    serverName: env.SERVER_NAME,
    state,
    sent: new MimiWelcomeStorage(ctx.storage),
    followers,
    enqueueNotify: (provider, ts, welcome) => mimiStore.enqueueNotify(provider, "welcome", ts, welcome),
    kickNotify: (roomId) => mimiNotifier.kick(roomId),
    mls: {
      algorithm: () => {
        const e = mls.encryption();
        return e.mls ? e.algorithm : undefined;
      },
      isAcceptedCommit: (id) => mls.isAcceptedCommit(id),
      devices: () => (mls.currentRoster()?.leaves ?? []).flatMap((l) => (l ? [{ userId: l.userId, deviceId: l.deviceId }] : [])),
    },
    eventContent: (id) => {
      const e = store.getEvent(id);
      return e && (JSON.parse(e.json) as { type: string; content: Record<string, never>; unsigned?: Record<string, never> });
    },
    request: (server, method, path, body) => env.OUTBOUND.request(server, method, path, body),
    now: () => Date.now(),
  });
  const welcomes = new MlsListener(mls, state, {
    divert: async (commit, sender, json) => JSON.stringify(await mimiWelcomes.divert(commit, sender, JSON.parse(json) as WelcomeMessage[])),
    deliverToDevice: (s, t, m, id) => env.OUTBOUND.deliverToDevice(s, t, m, id),
    waitUntil,
  });
  const hubProposals = new HubProposalFanout(mls, state, { store: mimiStore, followers }, {
    deliverToDevice: (s, t, m, id) => env.OUTBOUND.deliverToDevice(s, t, m, id),
    kickNotify: (roomId) => mimiNotifier.kick(roomId),
    waitUntil,
    serverName: env.SERVER_NAME,
  });
  const reads = new RoomReads(store, new BackfillStore(ctx.storage), state, () => core()?.version, transaction);
  return {
    store,
    dag: new DagStorage(ctx.storage),
    mls,
    outbox,
    indexer,
    notifier,
    mimi: { store: mimiStore, followers, notifier: mimiNotifier, welcomes: mimiWelcomes },
    // mimiNotifier before hubProposals: followers get a commit before the hub's proposals for the epoch it starts.
    listeners: [outbox, indexer, welcomes, new GroupInfoKeeper(mimiStore), mimiNotifier, hubProposals, new RelationsListener(relationsIndex), notifier, converter],
    reads,
    relations: new RelationReads(relationsIndex, reads),
    ephemeral,
    converterStore,
    converter,
    converterImport: new ConverterImport(env.SERVER_NAME, converterStore, seenKeys),
    ports: {
      serverName: env.SERVER_NAME,
      signingKey: () => (signingKey ??= parseSigningKeySecret(env.SIGNING_KEY)),
      transaction,
      mls,
      federation: {
        request: (server, method, path, body) => env.OUTBOUND.request(server, method, path, body),
        inviteAndVerify: (target, eventId, pdu, version, stripped) => env.OUTBOUND.inviteAndVerify(target, eventId, pdu, version, stripped),
        backfillVerified: (hub, roomId, upTo, limit, version) => env.OUTBOUND.backfillVerified(hub, roomId, upTo, limit, version),
        fetchVerified: (server, method, path, body, version) => env.OUTBOUND.fetchVerified(server, method, path, body, version),
        enqueue: async (server, items) => void (await destination(server).enqueue(server, items)),
      },
    },
    storeInvite: async (userId, pdu, stripped, origin, roomVersion) => {
      if (roomVersion !== undefined) store.setMeta("invite_room_version", roomVersion);
      store.putInvite(userId, JSON.stringify(pdu), JSON.stringify(stripped), origin);
      await stream(userId).notifyInvite(pdu.room_id as string, JSON.stringify([...stripped, strippedOf(pdu)]));
    },
    allowedRoomFacts: (roomId, userId) => env.ROOM.get(env.ROOM.idFromName(roomId)).membershipFacts(userId),
  };
}
