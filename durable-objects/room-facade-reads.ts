// The Room facade's reads: events, state, timelines, relations, sync views and federation history.

import { forbidden, notFound } from "../shared/errors.js";
import type { Lpdu } from "../shared/event.js";
import type { SyncSliceArgs } from "./room-history.js";
import type { MessagesArgs, MessagesPage } from "./room-messages.js";
import type { StoredEvent } from "./room-storage.js";
import { authChainOf } from "./room-history.js";
import type { RoomInfo, SyncView, TimelineEvent, View } from "./room/reads.js";
import { roomFacts, slidingRoomView, type RoomFacts, type SlidingRoomArgs, type SlidingRoomView } from "./room/sliding-view.js";
import type { ThreadSummary } from "./room/relation-reads.js";
import { RoomBase } from "./room-facade-base.js";

export abstract class RoomReads extends RoomBase {
  async info(): Promise<RoomInfo | undefined> {
    return this.engine && this.parts.reads.info(this.engine.core, this.engine.protocol);
  }

  async getEventJson(eventId: string, view: View = "federation"): Promise<{ json: string; pos: number | null } | undefined> {
    return this.parts.reads.eventJson(eventId, view);
  }

  async currentStateJson(view: View = "federation"): Promise<Array<{ eventId: string; json: string }>> {
    this.loaded();
    return this.parts.reads.currentState(view);
  }

  async stateEvent(type: string, stateKey: string, view: View = "federation"): Promise<{ eventId: string; json: string } | undefined> {
    return this.parts.reads.stateEvent(type, stateKey, view);
  }

  /** Whether `server` may read this room over federation: only a server with a joined user reads history. */
  async serverHasMembers(server: string): Promise<boolean> {
    return server === this.env.SERVER_NAME || this.state.isServerJoined(server);
  }

  async membership(userId: string): Promise<string | undefined> {
    return this.state.membership(userId);
  }

  /** For another room's restricted join: whether this server is in this room, and whether `userId` is joined. */
  async membershipFacts(userId: string): Promise<{ serverIn: boolean; joined: boolean }> {
    return { serverIn: this.state.isServerJoined(this.env.SERVER_NAME), joined: this.state.membership(userId) === "join" };
  }

  async joinedMembers(): Promise<string[]> {
    return this.parts.reads.joinedMembers();
  }

  async timeline(opts: { from?: number; dir: "f" | "b"; limit: number; view?: View }): Promise<TimelineEvent[]> {
    return this.parts.reads.timeline(opts);
  }

  /** Events relating to `parentId` (client view), newest first for dir b. */
  async relations(args: { parentId: string; relType?: string; eventType?: string; from?: number; to?: number; dir: "b" | "f"; limit: number }): Promise<TimelineEvent[]> {
    return this.parts.relations.children(args);
  }

  /** Thread summaries for bundling into these events' `unsigned.m.relations` (roots without replies are absent). */
  async threadSummaries(rootIds: string[], userId: string): Promise<Record<string, ThreadSummary>> {
    return this.parts.relations.threadSummaries(rootIds, userId);
  }

  async threadRoots(args: { before?: number; limit: number; participant?: string }): Promise<{ events: TimelineEvent[]; next?: number }> {
    return this.parts.relations.threadRoots(args);
  }

  /** State before an event plus its auth chain; answers only from the hub's own copy (replicas start at their join). */
  async stateAt(eventId: string): Promise<{ pdus: StoredEvent[]; authChain: StoredEvent[] }> {
    const { protocol } = this.loaded();
    if (protocol.stateIdsBefore) {
      const ids = protocol.stateIdsBefore(eventId);
      if (!ids) throw notFound("State at that event is not known here");
      const pdus = this.parts.store.getEvents(ids);
      return { pdus, authChain: authChainOf(this.parts.store, pdus) };
    }
    return this.parts.reads.stateAt(eventId);
  }

  /** Full-mesh rooms: get_missing_events (an empty answer in an LM room). */
  async missingEvents(earliest: string[], latest: string[], limit: number, minDepth: number): Promise<StoredEvent[]> {
    const ids = this.loaded().protocol.missingEvents?.(earliest, latest, limit, minDepth) ?? [];
    return this.parts.store.getEvents(ids);
  }

  /** An event as federation /event serves it: undefined for one the protocol does not serve (a rejected one). */
  async servableEventJson(eventId: string): Promise<{ json: string; pos: number | null } | undefined> {
    const servable = this.engine?.protocol.servable;
    if (servable && !servable.call(this.engine?.protocol, eventId)) return undefined;
    return this.parts.reads.eventJson(eventId, "federation");
  }

  /** The auth chain of one event (federation /event_auth); nothing for an event not served. */
  async eventAuth(eventId: string): Promise<StoredEvent[] | undefined> {
    const { protocol } = this.loaded();
    if (protocol.servable && !protocol.servable(eventId)) return undefined;
    const e = this.parts.store.getEvent(eventId);
    return e && authChainOf(this.parts.store, [e]).filter((a) => protocol.servable?.(a.eventId) ?? true);
  }

  async backfill(from: string[], limit: number): Promise<StoredEvent[]> {
    const { protocol } = this.loaded();
    if (protocol.backfillIds) {
      const ids = protocol.backfillIds(from, limit);
      if (!ids) throw notFound("None of the requested events is in this room");
      return this.parts.store.getEvents(ids);
    }
    return this.parts.reads.backfill(from, limit);
  }

  async syncView(args: SyncSliceArgs & { userId: string }): Promise<SyncView> {
    this.loaded();
    return this.parts.reads.syncView(args);
  }

  /** One room as sliding sync shows it to `userId` (who must have or have had a membership). */
  async slidingRoom(args: SlidingRoomArgs): Promise<SlidingRoomView> {
    this.loaded();
    if (this.state.membership(args.userId) === undefined) throw forbidden("Not a member of this room");
    return slidingRoomView(this.parts.store, this.state, (rows) => this.parts.reads.forClients(rows), args);
  }

  /** What sliding sync's list filters ask of a room; undefined before the room is known here. */
  async roomFacts(): Promise<RoomFacts | undefined> {
    return this.engine?.core.last ? roomFacts(this.state) : undefined;
  }

  async messages(args: MessagesArgs): Promise<MessagesPage> {
    const { core, protocol } = this.loaded();
    this.requireJoined(args.userId);
    return this.parts.reads.messages(core, protocol, args);
  }

  async canonicalEvent(eventId: string): Promise<string | undefined> {
    return this.parts.reads.canonicalEvent(eventId);
  }

  async lpduOf(eventId: string): Promise<Lpdu | undefined> {
    return this.parts.reads.lpduOf(eventId);
  }
}
