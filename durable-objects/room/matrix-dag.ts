// Full-mesh Matrix rooms (versions 11 and 12): every server in the room extends the event graph.
// Our users' events take all forward extremities as parents and their auth events from the state
// before them; events from other servers go through the receipt checks (dag-receive.ts); every
// accepted event still gets the room's next local position, so /sync, /messages, notifications and
// the outbox work as in LM rooms. Our own events go to every server with a joined member; events we
// receive are not sent on (their senders send them to everyone), except a join handed to us through
// send_join, which only we have.

import type { JsonObject } from "../../shared/canonical-json.js";
import { stateKeyOf, type Pdu } from "../../shared/event.js";
import { FEDERATION_V1 } from "../../shared/federation-paths.js";
import { eventIdOf } from "../../shared/hashes.js";
import { serverNameOf } from "../../shared/ids.js";
import { buildLocalPdu } from "../../shared/local-event.js";
import { membershipOf } from "../../shared/room-state.js";
import { authChainOf } from "../room-history.js";
import type { DagStore } from "../room-dag-storage.js";
import type { RoomCore } from "./core.js";
import { authAgainst, authEventIdsFor } from "./dag-auth.js";
import { depthAfter, prevEventsFor } from "./dag-extremities.js";
import { DagGraph, type StateResolver } from "./dag-graph.js";
import { DagPlacer, rowOf } from "./dag-place.js";
import { DagReceiver, type GapFiller } from "./dag-receive.js";
import { backfillWalk, servable } from "./dag-serving.js";
import type { EnginePorts } from "./ports.js";
import type { InboundItem, JoinAnswer, LocalEvent, MembershipKind, RoomProtocol } from "./protocol.js";
import { rejected, type Rejected, type Verdict } from "./verdict.js";
import type { Writer } from "./writer.js";

/** The send_join answer for a room joined elsewhere, verified by the Worker, with the IDs it computed. */
export interface DagJoinState {
  state: Array<{ eventId: string; pdu: Pdu }>;
  authChain: Array<{ eventId: string; pdu: Pdu }>;
  event: Pdu;
}

export class MatrixDag implements RoomProtocol {
  /** Every resident server answers make_join, state and backfill for a full-mesh room. */
  readonly isHub = true;
  readonly graph: DagGraph;
  private readonly placer: DagPlacer;
  readonly receiver: DagReceiver;

  constructor(
    private readonly core: RoomCore,
    private readonly ports: EnginePorts,
    store: DagStore,
    resolver: StateResolver,
  ) {
    this.graph = new DagGraph(core, store, resolver);
    this.placer = new DagPlacer(core, this.graph, ports.transaction);
    this.receiver = new DagReceiver(core, this.graph, this.placer);
    // A room created here holds its whole history; one joined elsewhere starts at our join.
    if (core.identity.hub !== ports.serverName) this.olderHistory = (upTo, limit) => this.historyBeforeJoin(upTo, limit);
  }

  readonly olderHistory?: (upTo: string, limit: number) => Promise<Pdu[] | undefined>;

  set gapFiller(g: GapFiller) {
    this.receiver.gaps = g;
  }

  send(sender: string, event: LocalEvent): Promise<Verdict> {
    return this.core.exclusive((w) => this.appendLocal(w, sender, event));
  }

  /** The event a local user would send now: parents, depth, auth events from the state before it. */
  private async build(sender: string, event: LocalEvent, ts = Date.now()): Promise<{ pdu: Pdu; before: { state: ReadonlyMap<string, string>; group: number | null } }> {
    const extremities = this.graph.extremitiesWithDepth();
    // Only the room's first event goes unlinked: a later create event names the extremities, and the
    // auth rules ("a create event has no prev_events") refuse it.
    const prevEvents = event.type === "m.room.create" && extremities.length === 0 ? [] : prevEventsFor(extremities);
    const before = prevEvents.length === 0 ? { state: new Map<string, string>(), group: null } : this.graph.stateBefore(prevEvents);
    const fields = { room_id: this.core.roomId, type: event.type, sender, origin_server_ts: ts, content: event.content, ...(event.state_key !== undefined ? { state_key: event.state_key } : {}), ...(event.redacts !== undefined ? { redacts: event.redacts } : {}) };
    const depth = depthAfter(prevEvents.map((p) => this.graph.row(p)?.depth ?? 0));
    const links = { authEvents: authEventIdsFor(this.core.version, before.state, fields), prevEvents, depth };
    const pdu = await buildLocalPdu(fields, links, this.ports.serverName, await this.ports.signingKey(), this.core.version);
    return { pdu, before };
  }

  /** A local user's event: built, checked against the state before it, committed and sent to every joined server. */
  async appendLocal(w: Writer, sender: string, event: LocalEvent, ts?: number): Promise<Verdict> {
    const { pdu, before } = await this.build(sender, event, ts);
    const refused = this.core.checkFormat(pdu) ?? this.authorizeLocal(pdu, before.state);
    if (refused) return refused;
    const eventId = await eventIdOf(pdu, this.core.version);
    const group = before.group ?? this.graph.groups.save(before.state);
    this.placer.onTimeline(w, { eventId, pdu, depth: pdu.depth ?? 1, before: group }, this.destinationsOf(pdu));
    return { outcome: "accepted", eventId, pdu };
  }

  private authorizeLocal(pdu: Pdu, state: ReadonlyMap<string, string>): Rejected | undefined {
    const verdict = authAgainst(this.core.version, pdu, state, pdu.auth_events, this.graph.getEvent, this.core.state.get("m.room.create", ""));
    return verdict.ok ? undefined : rejected(verdict.rule, `Auth rule ${verdict.rule}: ${verdict.reason}`);
  }

  async receive(w: Writer, origin: string, items: readonly InboundItem[]): Promise<Array<{ id: string; verdict: Verdict }>> {
    const out: Array<{ id: string; verdict: Verdict }> = [];
    for (const { id, pdu, lpdu } of items) {
      let verdict: Verdict;
      if (lpdu) verdict = rejected("format", "LPDUs have no place in a full-mesh room", 400, "M_BAD_JSON");
      else if (!pdu) continue;
      else {
        try {
          verdict = await this.receiver.receive(w, origin, pdu);
        } catch (e) {
          verdict = rejected("internal", e instanceof Error ? e.message : String(e), 500, "M_UNKNOWN");
        }
      }
      out.push({ id, verdict });
    }
    return out;
  }

  /** Our first join of a room that lives elsewhere: its state and auth chain as outliers, then the join on the timeline. */
  async firstJoin(w: Writer, args: DagJoinState): Promise<Verdict> {
    const { roomId, version, hub } = this.core.identity;
    const store = this.core.store;
    const state = new Map<string, string>();
    for (const { eventId, pdu } of args.state) if (typeof pdu.state_key === "string") state.set(stateKeyOf(pdu.type, pdu.state_key), eventId);
    const group = this.graph.groups.save(state);
    this.ports.transaction(() => {
      for (const [k, v] of [["room_id", roomId], ["room_version", version.id], ["hub", hub]] as const) store.setMeta(k, v);
      for (const { eventId, pdu } of [...args.authChain, ...args.state]) {
        if (store.getEvent(eventId)) continue;
        store.insertEvent(rowOf(eventId, pdu));
        this.graph.store.putDagEvent({ eventId, depth: pdu.depth ?? 0, status: "outlier", before: null, after: null });
      }
    });
    const eventId = await eventIdOf(args.event, version);
    const refused = this.authorizeLocal(args.event, state);
    if (refused) return refused;
    this.placer.onTimeline(w, { eventId, pdu: args.event, depth: args.event.depth ?? 1, before: group }, []);
    // Events the resident server sent while our send_join answer was on its way.
    for (const json of store.takeBufferedPdus()) await this.receiver.receive(w, hub, JSON.parse(json) as Pdu);
    return { outcome: "accepted", eventId, pdu: args.event };
  }

  /** An event known only as part of another's state or auth chain; `before` when the state before it is known too. */
  storeOutlier(eventId: string, pdu: Pdu, before?: number): void {
    const row = this.graph.row(eventId);
    if (row && (row.status !== "outlier" || row.after !== null)) return;
    this.placer.offTimeline({ eventId, pdu, depth: pdu.depth ?? 0, before: before ?? null }, "outlier");
  }

  /** An event learnt at a gap that failed the auth rules: kept as rejected, so it is never fetched, used or served again. */
  storeRejected(eventId: string, pdu: Pdu): void {
    if (this.graph.row(eventId)) return;
    this.placer.offTimeline({ eventId, pdu, depth: pdu.depth ?? 0, before: null }, "rejected");
  }

  invite(sender: string, target: string, content: JsonObject): Promise<Verdict> {
    return this.core.exclusive((w) => this.inviteLocal(w, sender, target, content));
  }

  async inviteRemote(w: Writer, request: Parameters<RoomProtocol["inviteRemote"]>[1]): Promise<Verdict> {
    if ("lpdu" in request) return rejected("format", "LPDUs have no place in a full-mesh room", 400, "M_BAD_JSON");
    return this.inviteLocal(w, request.sender, request.target, request.content);
  }

  /** An invite: checked, offered to the invitee's server first when it is not in the room (it signs it), then committed. */
  private async inviteLocal(w: Writer, sender: string, target: string, content: JsonObject): Promise<Verdict> {
    const { pdu, before } = await this.build(sender, { type: "m.room.member", state_key: target, content: { ...content, membership: "invite" } });
    const refused = this.core.checkFormat(pdu) ?? this.authorizeLocal(pdu, before.state);
    if (refused) return refused;
    const version = this.core.version;
    const eventId = await eventIdOf(pdu, version);
    let final = pdu;
    const targetServer = serverNameOf(target);
    if (targetServer !== this.ports.serverName && !this.core.state.isServerJoined(targetServer)) {
      const res = await this.ports.federation.inviteAndVerify(targetServer, eventId, pdu as unknown as Record<string, unknown>, version.id, this.core.state.stripped());
      if (!("pdu" in res)) return rejected("invite", `Invite refused by ${targetServer}: ${res.error}`, res.status >= 400 && res.status < 500 ? 403 : 502);
      final = res.pdu as unknown as Pdu;
      if ((await eventIdOf(final, version)) !== eventId) return rejected("invite", `${targetServer} changed the invite event`);
    }
    const group = before.group ?? this.graph.groups.save(before.state);
    this.placer.onTimeline(w, { eventId, pdu: final, depth: final.depth ?? 1, before: group }, this.destinationsOf(final));
    return { outcome: "accepted", eventId, pdu: final };
  }

  /** make_join / make_leave / make_knock: the event as it would be built now, if the auth rules would pass it. */
  membershipTemplate(userId: string, membership: MembershipKind, content: JsonObject = {}): { template: JsonObject; roomVersion: string } | Rejected {
    const extremities = this.graph.extremitiesWithDepth();
    const prevEvents = prevEventsFor(extremities);
    const before = this.graph.stateBefore(prevEvents);
    const fields = { room_id: this.core.roomId, type: "m.room.member", state_key: userId, sender: userId, origin_server_ts: Date.now(), content: { ...content, membership } as JsonObject };
    const template = {
      ...fields,
      auth_events: authEventIdsFor(this.core.version, before.state, fields),
      prev_events: prevEvents,
      depth: depthAfter(prevEvents.map((p) => this.graph.row(p)?.depth ?? 0)),
    };
    // A restricted join's authoriser (always one of ours) signs at send_join; the trial stands in for that.
    const trial = { ...template, hashes: {}, signatures: { [this.ports.serverName]: { "ed25519:template": "" } } } as unknown as Pdu;
    return this.authorizeLocal(trial, before.state) ?? { template: template as unknown as JsonObject, roomVersion: this.core.version.id };
  }

  async membershipAnswer(): Promise<Rejected> {
    return rejected("format", "A full-mesh room takes a signed PDU in send_join, send_leave and send_knock", 400, "M_BAD_JSON");
  }

  /** send_join / send_leave / send_knock v2: the joining server's signed event, judged as any received PDU, then passed on. */
  async membershipPdu(w: Writer, origin: string, pdu: Pdu, membership: MembershipKind): Promise<JoinAnswer | Rejected> {
    if (pdu.type !== "m.room.member" || membershipOf(pdu) !== membership || pdu.state_key !== pdu.sender) return rejected("format", `Expected the sender's own m.room.member event with membership ${membership}`, 400, "M_BAD_JSON");
    if (serverNameOf(pdu.sender) !== origin) return rejected("origin", `${origin} cannot send events for ${pdu.sender}`);
    const others = this.core.state.joinedServers().filter((s) => s !== this.ports.serverName && s !== origin);
    const v = await this.receiver.receive(w, origin, pdu, others, false);
    if (v.outcome === "rejected") return v;
    if (v.outcome === "soft-failed") return rejected("auth", v.reason);
    const eventId = v.eventId;
    if (membership === "knock") return { body: JSON.stringify({ knock_room_state: this.core.state.stripped() }), eventId };
    if (membership !== "join") return { body: "{}", eventId };
    const stateIds = this.stateIdsBefore(eventId) ?? [];
    const state = this.core.store.getEvents(stateIds);
    const chain = authChainOf(this.core.store, state).map((e) => e.json);
    const event = this.core.store.getEvent(eventId)?.json ?? JSON.stringify(pdu);
    const body = `{"state":[${state.map((e) => e.json).join(",")}],"auth_chain":[${chain.join(",")}],"event":${event},"members_omitted":false,"origin":${JSON.stringify(this.ports.serverName)}}`;
    return { body, eventId };
  }

  /** The state before an event, as event IDs (federation /state and /state_ids), create first. */
  stateIdsBefore(eventId: string): string[] | undefined {
    if (!this.servable(eventId)) return undefined;
    const g = this.graph.row(eventId)?.before;
    if (g == null) return undefined;
    const ids = [...this.graph.groups.get(g)];
    ids.sort(([a], [b]) => (a === stateKeyOf("m.room.create", "") ? -1 : b === stateKeyOf("m.room.create", "") ? 1 : 0));
    return ids.map(([, id]) => id);
  }

  /**
   * get_missing_events: the events before `latest` back to `earliest` (exclusive), breadth first from
   * the newest, at most `limit`, none shallower than `minDepth`; rejected ones left out; oldest first.
   */
  missingEvents(earliest: readonly string[], latest: readonly string[], limit: number, minDepth: number): string[] {
    const seen = new Set<string>([...earliest, ...latest]);
    const queue = latest.flatMap((id) => this.graph.getEvent(id)?.prev_events ?? []);
    const out: Array<{ id: string; depth: number }> = [];
    while (queue.length > 0 && out.length < limit) {
      const id = queue.shift() as string;
      if (seen.has(id)) continue;
      seen.add(id);
      const e = this.graph.getEvent(id);
      const depth = this.graph.row(id)?.depth ?? e?.depth ?? 0;
      if (!e || depth < minDepth) continue;
      out.push({ id, depth });
      queue.push(...e.prev_events);
    }
    return out.sort((a, b) => a.depth - b.depth).map((e) => e.id);
  }

  /** A room joined elsewhere: history from before our join, from the server we joined through (verified by the Worker). */
  private async historyBeforeJoin(upTo: string, limit: number): Promise<Pdu[] | undefined> {
    const { roomId, hub, version } = this.core.identity;
    const path = `${FEDERATION_V1}/backfill/${encodeURIComponent(roomId)}?v=${encodeURIComponent(upTo)}&limit=${limit}`;
    const res = await this.ports.federation.fetchVerified(hub, "GET", path, undefined, version.id);
    if (!("pdus" in res)) return undefined;
    const pdus = res.pdus as unknown as Pdu[];
    return this.receiver.gaps ? this.receiver.gaps.vetHistory(hub, pdus) : pdus;
  }

  servable(eventId: string): boolean {
    return servable(this.graph, eventId);
  }

  backfillIds(from: readonly string[], limit: number): string[] | undefined {
    return backfillWalk(this.graph, from, limit);
  }

  /** Every server with a joined member, and the target of a membership change; never ourselves. */
  destinationsOf(pdu: Pdu): string[] {
    const out = new Set(this.core.state.joinedServers());
    // An invitee's server that is not in the room has the invite from /v2/invite already; Synapse
    // sends it nothing more, and a second copy over /send races the invitee's join there.
    if (pdu.type === "m.room.member" && typeof pdu.state_key === "string" && pdu.content["membership"] !== "invite") {
      try {
        out.add(serverNameOf(pdu.state_key));
      } catch {
        /* a malformed target was refused by the auth rules */
      }
    }
    out.delete(this.ports.serverName);
    return [...out];
  }

  lpduRejected(lpduHash: string): void {
    this.core.store.deletePendingClientTxns(lpduHash);
  }
}
