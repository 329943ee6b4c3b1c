// Read-side views of a room for the facade's RPC methods: events as clients see them (redactions
// applied), timeline windows, federation state and backfill, and what /sync shows. Nothing here writes.

import { canonicalJson } from "../../shared/canonical-json.js";
import { notFound } from "../../shared/errors.js";
import type { Lpdu, Pdu } from "../../shared/event.js";
import { lpduFromPdu } from "../../shared/lpdu.js";
import type { RoomState } from "../../shared/room-state.js";
import type { RoomVersion } from "../../shared/room-version.js";
import { backfillOnce, type BackfillOutcome } from "../room-backfill.js";
import type { BackfillStore } from "../room-backfill-storage.js";
import { authChainOf, backfillFrom, syncSlice, type SyncSliceArgs } from "../room-history.js";
import { pageMessages, type MessagesArgs, type MessagesPage } from "../room-messages.js";
import type { RoomStorage, StoredEvent } from "../room-storage.js";
import type { RoomCore } from "./core.js";
import type { RoomProtocol } from "./protocol.js";

export type View = "federation" | "client";

export interface RoomInfo {
  roomId: string;
  version: string;
  hub: string;
  isHub: boolean;
  lastPos: number;
  stateCount: number;
}

export interface TimelineEvent {
  pos: number;
  eventId: string;
  json: string;
}

export interface SyncSummary {
  "m.heroes": string[];
  "m.joined_member_count": number;
  "m.invited_member_count": number;
}

export interface SyncView {
  events: Array<{ eventId: string; json: string; pos: number }>;
  limited: boolean;
  prevBatch: string;
  state: Array<{ eventId: string; json: string }>;
  summary: SyncSummary;
}

export class RoomReads {
  private backfilling: Promise<BackfillOutcome> | undefined;

  constructor(
    private readonly store: RoomStorage,
    /** History older than a participant's replica, fetched on demand (room-backfill.ts). */
    private readonly history: BackfillStore,
    private readonly state: RoomState,
    /** The room's version once it is known (redacted events exist only then). */
    private readonly version: () => RoomVersion | undefined,
    private readonly transaction: (fn: () => void) => void,
  ) {}

  info(core: RoomCore, protocol: RoomProtocol): RoomInfo {
    const { roomId, version, hub } = core.identity;
    return { roomId, version: version.id, hub, isHub: protocol.isHub, lastPos: core.last?.pos ?? 0, stateCount: this.state.size };
  }

  /** /messages: a page of the room, fetching older history as it goes where the protocol has a source for it. */
  async messages(core: RoomCore, protocol: RoomProtocol, args: MessagesArgs): Promise<MessagesPage> {
    const source = protocol.olderHistory ? (upTo: string, limit: number) => protocol.olderHistory?.(upTo, limit) ?? Promise.resolve(undefined) : undefined;
    const page = await pageMessages({ store: this.store, history: this.history, ...(source ? { backfill: () => this.backfillOnce(core, source) } : {}) }, args);
    return { ...page, events: this.forClients(page.events) };
  }

  /** One page of older history; concurrent callers share one fetch. */
  private backfillOnce(core: RoomCore, fetch: (upTo: string, limit: number) => Promise<Pdu[] | undefined>): Promise<BackfillOutcome> {
    this.backfilling ??= backfillOnce({
      roomId: core.roomId,
      version: core.version,
      store: this.store,
      history: this.history,
      fetch,
      transaction: this.transaction,
      redactionApplies: (redactionId, redaction, targetId, target) => core.mayRedact(redactionId, redaction, targetId, target),
    }).finally(() => (this.backfilling = undefined));
    return this.backfilling;
  }

  /** Events as clients see them: redacted ones stripped, with `unsigned.redacted_because`. */
  forClients<T extends { eventId: string; json: string }>(rows: T[]): T[] {
    const redactions = this.store.redactionsOf(rows.map((r) => r.eventId));
    const version = this.version();
    if (redactions.size === 0 || !version) return rows;
    return rows.map((r) => {
      const red = redactions.get(r.eventId);
      if (!red) return r;
      const stripped = version.redact(JSON.parse(r.json) as Pdu) as Record<string, unknown>;
      const because = JSON.parse(red.json) as Record<string, unknown>;
      return { ...r, json: JSON.stringify({ ...stripped, unsigned: { redacted_because: { ...because, event_id: red.redactionId } } }) };
    });
  }

  private view<T extends { eventId: string; json: string }>(rows: T[], view: View | undefined): T[] {
    return view === "client" ? this.forClients(rows) : rows;
  }

  eventJson(eventId: string, view: View): { json: string; pos: number | null } | undefined {
    const e = this.store.getEvent(eventId);
    if (!e) return undefined;
    const shown = this.view([e], view)[0] ?? e;
    return { json: shown.json, pos: e.pos };
  }

  /** Current state event JSON, create event first, then in timeline order. */
  currentState(view: View): Array<{ eventId: string; json: string }> {
    return this.view(
      this.store.currentState().map((e) => ({ eventId: e.eventId, json: e.json })),
      view,
    );
  }

  stateEvent(type: string, stateKey: string, view: View): { eventId: string; json: string } | undefined {
    const entry = this.state.entry(type, stateKey);
    if (!entry) return undefined;
    const row = { eventId: entry.eventId, json: JSON.stringify(entry.pdu) };
    return this.view([row], view)[0] ?? row;
  }

  /** Timeline window for clients: forwards from a position or backwards before one. */
  timeline(opts: { from?: number; dir: "f" | "b"; limit: number; view?: View }): TimelineEvent[] {
    const limit = Math.max(1, Math.min(opts.limit, 1000));
    const rows = opts.dir === "f" ? this.store.eventsAfter(opts.from ?? 0, limit) : this.store.eventsBefore(opts.from ?? Number.MAX_SAFE_INTEGER, limit);
    return this.view(
      rows.map((r) => ({ pos: r.pos as number, eventId: r.eventId, json: r.json })),
      opts.view,
    );
  }

  /** State before an event plus the auth chain of that state (federation /state and /state_ids). */
  stateAt(eventId: string): { pdus: StoredEvent[]; authChain: StoredEvent[] } {
    const target = this.store.getEvent(eventId);
    if (!target || target.pos === null) throw notFound("Event not found in this room");
    const pdus = this.store.getEvents(this.store.stateIdsBefore(target.pos));
    return { pdus, authChain: authChainOf(this.store, pdus) };
  }

  /** Events up to and including each of `from`, oldest first, at most `limit` (federation /backfill). */
  backfill(from: string[], limit: number): StoredEvent[] {
    const events = backfillFrom(this.store, from, limit);
    if (!events) throw notFound("None of the requested events is in this room");
    return events;
  }

  syncView(args: SyncSliceArgs & { userId: string }): SyncView {
    const slice = syncSlice(this.store, args);
    return { ...slice, events: this.forClients(slice.events), state: this.forClients(slice.state), summary: this.summary(args.userId) };
  }

  private summary(userId: string): SyncSummary {
    const joined = this.state.members("join").map((e) => e.pdu.state_key as string);
    const invited = this.state.members("invite").map((e) => e.pdu.state_key as string);
    const heroes = [...joined, ...invited].filter((u) => u !== userId).sort().slice(0, 5);
    return { "m.heroes": heroes, "m.joined_member_count": joined.length, "m.invited_member_count": invited.length };
  }

  joinedMembers(): string[] {
    return this.state.members("join").map((e) => e.pdu.state_key as string);
  }

  /** A local user's pending invite: the server to join through and the stripped state, as JSON. */
  pendingInvite(userId: string): { hub: string; origin: string; eventJson: string; strippedJson: string } | undefined {
    const inv = this.store.getInvite(userId);
    if (!inv) return undefined;
    const pdu = JSON.parse(inv.eventJson) as Pdu;
    return { hub: pdu.hub_server ?? inv.origin, origin: inv.origin, eventJson: inv.eventJson, strippedJson: inv.strippedState };
  }

  /** Canonical JSON of an event as stored, for integrity checks in tests and admin tools. */
  canonicalEvent(eventId: string): string | undefined {
    const e = this.store.getEvent(eventId);
    return e && canonicalJson(JSON.parse(e.json));
  }

  /** The LPDU a stored hub-completed event came from (for the admin CLI's integrity view). */
  lpduOf(eventId: string): Lpdu | undefined {
    const e = this.store.getEvent(eventId);
    return e && lpduFromPdu(JSON.parse(e.json));
  }
}
