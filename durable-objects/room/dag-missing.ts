// Filling a gap in a full-mesh room's graph before a PDU is judged (server-server spec "Backfilling
// and retrieving missing events"): first get_missing_events from the server that sent it, judging the
// events it returns oldest first; parents still unknown after that are taken with the state at them
// (state_ids, then event for the events we lack) and kept as outliers, apart from the timeline.

import { stateKeyOf, type Pdu } from "../../shared/event.js";
import { FEDERATION_V1 } from "../../shared/federation-paths.js";
import { eventIdOf } from "../../shared/hashes.js";
import type { RoomCore } from "./core.js";
import type { DagReceiver, GapFiller } from "./dag-receive.js";
import type { DagGraph } from "./dag-graph.js";
import { checkOutliers } from "./dag-outliers.js";
import type { EnginePorts } from "./ports.js";
import type { Writer } from "./writer.js";

/** Like Synapse: a few events by get_missing_events, the state at the gap for anything older. */
export const MISSING_EVENTS_LIMIT = 10;
/** Rounds of get_missing_events before the rest of a gap is bridged with the state at it. */
export const MISSING_EVENTS_ROUNDS = 3;
/** State events fetched one by one at one gap; more than this and the gap is left unfilled. */
const MAX_STATE_FETCH = 500;

/** What the filler needs of the room's protocol (not the protocol itself: only the facade imports that). */
export interface GapHost {
  readonly graph: DagGraph;
  readonly receiver: DagReceiver;
  storeOutlier(eventId: string, pdu: Pdu, before?: number): void;
  storeRejected(eventId: string, pdu: Pdu): void;
}

export class DagGapFiller implements GapFiller {
  constructor(
    private readonly core: RoomCore,
    private readonly dag: GapHost,
    private readonly ports: EnginePorts,
  ) {}

  private get graph() {
    return this.dag.graph;
  }

  async fill(w: Writer, origin: string, pdu: Pdu, eventId: string): Promise<void> {
    const version = this.core.version;
    const fetched = new Map<string, Pdu>();
    // A few rounds, each asking for what lies before the oldest events the last one brought.
    let latest = [eventId];
    for (let round = 0; round < MISSING_EVENTS_ROUNDS && latest.length > 0; round++) {
      const body = { earliest_events: [...this.graph.extremities()], latest_events: latest, limit: MISSING_EVENTS_LIMIT, min_depth: 0 };
      const res = await this.ports.federation.fetchVerified(origin, "POST", `${FEDERATION_V1}/get_missing_events/${encodeURIComponent(this.core.roomId)}`, body, version.id);
      const fresh: Array<[string, Pdu]> = [];
      for (const e of "pdus" in res ? (res.pdus as unknown as Pdu[]) : []) {
        const id = await eventIdOf(e, version);
        if (e.room_id === this.core.roomId && id !== eventId && !fetched.has(id) && !this.graph.hasStateAfter(id)) fresh.push([id, e]);
      }
      for (const [id, e] of fresh) fetched.set(id, e);
      latest = fresh.filter(([, e]) => e.prev_events.some((p) => !fetched.has(p) && !this.graph.hasStateAfter(p))).map(([id]) => id);
    }
    const ordered = [...fetched].sort(([, a], [, b]) => (a.depth ?? 0) - (b.depth ?? 0));
    const pending = new Set(fetched.keys());
    for (const [id, e] of ordered) {
      await this.stateAtParents(origin, e, pending);
      await this.dag.receiver.receive(w, origin, e, [], false);
      pending.delete(id);
    }
    await this.stateAtParents(origin, pdu, pending);
  }

  async vetHistory(origin: string, pdus: readonly Pdu[]): Promise<Pdu[]> {
    const page = new Map<string, Pdu>();
    for (const e of pdus) page.set(await eventIdOf(e, this.core.version), e);
    // Events of other rooms are left for the caller to drop, not judged (nor stored) here.
    const fresh = new Map([...page].filter(([id, e]) => e.room_id === this.core.roomId && !this.core.store.getEvent(id)));
    const checked = await this.check(origin, fresh);
    for (const [id, { pdu }] of checked.rejected) this.dag.storeRejected(id, pdu);
    return [...page].filter(([id]) => !fresh.has(id) || checked.accepted.has(id)).map(([, e]) => e);
  }

  private check(origin: string, fetched: ReadonlyMap<string, Pdu>) {
    const roomCreate = this.core.state.get("m.room.create", "");
    return checkOutliers({
      version: this.core.version,
      fetched,
      standing: (id) => (this.graph.row(id)?.status === "rejected" ? "rejected" : this.core.store.getEvent(id) ? "ok" : undefined),
      getEvent: this.graph.getEvent,
      source: { authChain: (id) => this.fetchAuthChain(origin, id), event: (id) => this.fetchEvent(origin, id) },
      ...(roomCreate ? { roomCreate } : {}),
      maxEvents: MAX_STATE_FETCH,
    });
  }

  /** For each parent of `e` we still lack (and will not judge next), the parent and the state at it, as outliers. */
  private async stateAtParents(origin: string, e: Pdu, pending: ReadonlySet<string>): Promise<void> {
    for (const p of e.prev_events) if (!pending.has(p) && !this.graph.hasStateAfter(p)) await this.stateAt(origin, p);
  }

  private async stateAt(origin: string, prevId: string): Promise<void> {
    const roomId = encodeURIComponent(this.core.roomId);
    const res = await this.ports.federation.request(origin, "GET", `${FEDERATION_V1}/state_ids/${roomId}?event_id=${encodeURIComponent(prevId)}`, undefined);
    const answer = res.body as { pdu_ids?: unknown; auth_chain_ids?: unknown } | null;
    if (res.status !== 200 || !Array.isArray(answer?.pdu_ids)) return;
    const stateIds = answer.pdu_ids.filter((x): x is string => typeof x === "string");
    const chainIds = Array.isArray(answer.auth_chain_ids) ? answer.auth_chain_ids.filter((x): x is string => typeof x === "string") : [];
    const unknown = [...new Set([...chainIds, ...stateIds, prevId])].filter((id) => !this.core.store.getEvent(id));
    if (unknown.length > MAX_STATE_FETCH) return;
    const got = new Map<string, Pdu>();
    for (const id of unknown) {
      const e = await this.fetchEvent(origin, id);
      if (e) got.set(id, e);
    }
    const checked = await this.check(origin, got);
    // Rejected outliers are kept as such (never state, never a parent); the rest of the gap goes on without them.
    for (const [id, { pdu }] of checked.rejected) this.dag.storeRejected(id, pdu);
    const prev = checked.accepted.get(prevId) ?? this.graph.getEvent(prevId);
    if (!prev) return;
    const state = new Map<string, string>();
    for (const id of stateIds) {
      const e = checked.accepted.get(id) ?? this.graph.getEvent(id);
      if (e && typeof e.state_key === "string") state.set(stateKeyOf(e.type, e.state_key), id);
    }
    for (const [id, e] of checked.accepted) if (id !== prevId) this.dag.storeOutlier(id, e);
    const before = this.graph.groups.save(state);
    this.dag.storeOutlier(prevId, prev, before);
  }

  /** One event of the room by ID, verified, and only if it is the event asked for (its ID is its hash). */
  private async fetchEvent(origin: string, id: string): Promise<Pdu | undefined> {
    const roomId = encodeURIComponent(this.core.roomId);
    // (room_id: a hint Switchboard peers use before their event index has caught up; others ignore it.)
    const one = await this.ports.federation.fetchVerified(origin, "GET", `${FEDERATION_V1}/event/${encodeURIComponent(id)}?room_id=${roomId}`, undefined, this.core.version.id);
    const e = "pdus" in one ? (one.pdus[0] as unknown as Pdu | undefined) : undefined;
    return e && e.room_id === this.core.roomId && (await eventIdOf(e, this.core.version)) === id ? e : undefined;
  }

  /** GET /event_auth: the verified auth chain of an event, by ID, events of other rooms left out. */
  private async fetchAuthChain(origin: string, id: string): Promise<Map<string, Pdu>> {
    const path = `${FEDERATION_V1}/event_auth/${encodeURIComponent(this.core.roomId)}/${encodeURIComponent(id)}`;
    const res = await this.ports.federation.fetchVerified(origin, "GET", path, undefined, this.core.version.id);
    const out = new Map<string, Pdu>();
    for (const e of "pdus" in res ? (res.pdus as unknown as Pdu[]) : []) if (e.room_id === this.core.roomId) out.set(await eventIdOf(e, this.core.version), e);
    return out;
  }
}
