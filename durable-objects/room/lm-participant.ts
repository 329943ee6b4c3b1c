// Linearized Matrix, participant role: another server (the hub) orders the room. This server keeps
// a verified replica of the hub's log, and its users' events go to the hub as LPDUs; a local send
// completes when the hub's PDU for it comes back (its echo).

import { canonicalJson, type JsonObject } from "../../shared/canonical-json.js";
import type { Lpdu, Pdu } from "../../shared/event.js";
import { LM_PREFIX } from "../../shared/federation-paths.js";
import { eventIdOf } from "../../shared/hashes.js";
import { serverNameOf } from "../../shared/ids.js";
import { buildLpdu } from "../../shared/lpdu.js";
import { vouchedForLmServer } from "../../shared/mimi-vouched.js";
import { mlsErrorFields } from "../room-mls-errors.js";
import type { RoomCore } from "./core.js";
import { eventFields, membershipShapeError, wrongServer } from "./lm-common.js";
import type { EnginePorts, RoomStore } from "./ports.js";
import type { InboundItem, JoinAnswer, LocalEvent, MembershipKind, RoomProtocol } from "./protocol.js";
import { rejected, type Rejected, type Verdict } from "./verdict.js";
import type { Writer } from "./writer.js";

const ECHO_TIMEOUT_MS = 30_000;

type Waiter = { promise: Promise<Verdict>; resolve: (v: Verdict) => void; timer: ReturnType<typeof setTimeout> };

/** The send_join answer, verified by the Worker, with the IDs it computed. */
export interface JoinState {
  state: Array<{ eventId: string; pdu: Pdu }>;
  authChain: Array<{ eventId: string; pdu: Pdu }>;
  event: Pdu;
}

/**
 * PDUs for a room this server has not finished joining: kept when they come from the server the
 * join goes through (its fan-out can race the send_join answer), otherwise dropped.
 */
export function bufferEarlyPdus(store: RoomStore, origin: string, items: readonly InboundItem[]): void {
  for (const { pdu } of items) if (pdu && store.getMeta("joining_via") === origin) store.bufferPdu(JSON.stringify(pdu), Date.now());
}

export class LmParticipant implements RoomProtocol {
  readonly isHub = false;
  private readonly echoWaiters = new Map<string, Waiter>();

  constructor(
    private readonly core: RoomCore,
    private readonly ports: EnginePorts,
  ) {}

  private get hub(): string {
    return this.core.identity.hub;
  }

  /** Our first join: the answer's state (stored as outliers), then the join itself, then PDUs that raced it. */
  async firstJoin(w: Writer, args: JoinState): Promise<Verdict> {
    const { roomId, version, hub } = this.core.identity;
    const store = this.core.store;
    const outliers = new Map<string, Pdu>();
    for (const { eventId, pdu } of [...args.authChain, ...args.state]) outliers.set(eventId, pdu);
    this.ports.transaction(() => {
      store.setMeta("room_id", roomId);
      store.setMeta("room_version", version.id);
      store.setMeta("hub", hub);
      for (const [id, e] of outliers) {
        if (store.getEvent(id)) continue;
        const row: Parameters<RoomStore["insertEvent"]>[0] = { eventId: id, pos: null, type: e.type, sender: e.sender, json: JSON.stringify(e) };
        if (e.state_key !== undefined) row.stateKey = e.state_key;
        store.insertEvent(row);
      }
    });
    // The state before the join, replayed in the order given (create first).
    for (const { eventId: id, pdu: e } of args.state) {
      this.core.state.apply(id, e);
      if (typeof e.state_key === "string") {
        store.setCurrentState(e.type, e.state_key, id);
        store.putJoinState(e.type, e.state_key, id);
      }
    }
    const joinId = await eventIdOf(args.event, version);
    const refused = this.core.authorize(args.event);
    if (refused) return refused;
    this.core.commit(w, { eventId: joinId, pdu: args.event, lpduHash: args.event.hashes.lpdu?.sha256, destinations: [] });
    this.resolveEcho(args.event, joinId);
    for (const json of store.takeBufferedPdus()) await this.acceptFromHub(w, JSON.parse(json) as Pdu);
    return { outcome: "accepted", eventId: joinId, pdu: args.event };
  }

  async receive(w: Writer, origin: string, items: readonly InboundItem[]): Promise<Array<{ id: string; verdict: Verdict }>> {
    const out: Array<{ id: string; verdict: Verdict }> = [];
    for (const item of items) {
      const { id, pdu } = item;
      if (!pdu) continue; // an LPDU: not our room to order
      if (!this.core.last) {
        bufferEarlyPdus(this.core.store, origin, [item]);
        continue;
      }
      let verdict: Verdict;
      if (origin !== this.hub) verdict = rejected("hub", `${origin} is not the hub of this room`);
      else if (pdu.hub_server !== undefined && pdu.hub_server !== this.hub) verdict = rejected("hub", `hub_server ${String(pdu.hub_server)} is not this room's hub`);
      else verdict = await this.acceptFromHub(w, pdu);
      out.push({ id, verdict });
    }
    return out;
  }

  /** A PDU the hub ordered: it must follow our tip (a gap is filled from the hub first) and pass the auth rules. */
  async acceptFromHub(w: Writer, pdu: Pdu): Promise<Verdict> {
    try {
      const refused = this.core.checkFormat(pdu);
      if (refused) return refused;
      const eventId = await eventIdOf(pdu, this.core.version);
      // Known already: in our timeline, or older than it. Events kept without a position are the
      // state and auth chain of our first join, which all precede our first event; when users of
      // this server join concurrently, an earlier join's answer (or fan-out) can arrive after a
      // later join's answer began our timeline, and that earlier join is in its state.
      if (this.core.store.getEvent(eventId) !== undefined) return { outcome: "duplicate", eventId };
      const prev = pdu.prev_events[0];
      if (prev !== this.core.last?.eventId) {
        const gap = await this.fillGap(w, prev);
        if (gap) return gap;
        if (this.core.store.getEvent(eventId)?.pos != null) return { outcome: "duplicate", eventId };
        if (prev !== this.core.last?.eventId) return rejected("order", `prev_events ${String(prev)} does not follow our last event`);
      }
      return (await this.commitFromHub(w, pdu, eventId)) ?? { outcome: "accepted", eventId, pdu };
    } catch (e) {
      return rejected("internal", e instanceof Error ? e.message : String(e), 500, "M_UNKNOWN");
    }
  }

  private async commitFromHub(w: Writer, pdu: Pdu, eventId: string): Promise<Rejected | undefined> {
    const forged = vouchedForLmServer(pdu, this.core.state);
    if (forged) return rejected("origin", forged);
    const refused = this.core.authorize(pdu);
    if (refused) return refused;
    const mls = await this.ports.mls.observeAsParticipant(pdu, this.core.roomId, eventId);
    this.core.commit(w, { eventId, pdu, lpduHash: pdu.hashes.lpdu?.sha256, destinations: [], mls });
    this.resolveEcho(pdu, eventId);
    return undefined;
  }

  /** Fetches events we missed from the hub (verified by the Worker) and appends them in order. */
  private async fillGap(w: Writer, upTo: string | undefined): Promise<Rejected | undefined> {
    const last = this.core.last;
    if (upTo === undefined || !last) return undefined;
    const res = await this.ports.federation.backfillVerified(this.hub, this.core.roomId, upTo, 100, this.core.version.id);
    if (!("pdus" in res)) return undefined;
    // Peers differ in order (the draft: oldest first; the reference implementation: newest first),
    // so follow the prev_events chain from our last event instead of trusting the order.
    const next = new Map<string, { id: string; pdu: Pdu }>();
    for (const pdu of res.pdus as unknown as Pdu[]) {
      const prev = pdu.prev_events[0];
      if (prev !== undefined) next.set(prev, { id: await eventIdOf(pdu, this.core.version), pdu });
    }
    for (let step = next.get(last.eventId); step; step = next.get(this.core.last?.eventId ?? "")) {
      const refused = await this.commitFromHub(w, step.pdu, step.id);
      if (refused) return refused;
    }
    return undefined;
  }

  /** The hub's backfill, verified by the Worker: a replica starts at its join. */
  async olderHistory(upTo: string, limit: number): Promise<Pdu[] | undefined> {
    const res = await this.ports.federation.backfillVerified(this.hub, this.core.roomId, upTo, limit, this.core.version.id);
    return "pdus" in res ? (res.pdus as unknown as Pdu[]) : undefined;
  }

  async send(sender: string, event: LocalEvent, txn?: { deviceId: string; txnId: string }): Promise<Verdict> {
    // A retry whose first attempt already built an LPDU (its client gave up, or this object
    // restarted while waiting) waits for that LPDU rather than sending the hub a second event.
    const pending = txn && this.core.store.getPendingClientTxn(sender, txn.deviceId, txn.txnId);
    return pending ? this.resumeViaHub(pending) : this.sendViaHub(sender, event, txn);
  }

  /** A local user's event: an LPDU to the hub, then wait for its echo. */
  private async sendViaHub(sender: string, event: LocalEvent, txn?: { deviceId: string; txnId: string }): Promise<Verdict> {
    // An LPDU has no top-level `redacts`; a redaction's target travels in its content.
    const lpdu = await buildLpdu(eventFields(this.core, sender, event), await this.ports.signingKey(), this.hub);
    const lpduHash = lpdu.hashes.lpdu.sha256;
    const lpduId = await eventIdOf(lpdu, this.core.version);
    const json = canonicalJson(lpdu);
    if (txn) this.core.store.putPendingClientTxn(sender, txn.deviceId, txn.txnId, { lpduHash, lpduId, json });
    const echoed = this.echoOf(lpduHash);
    await this.ports.federation.enqueue(this.hub, [{ roomId: this.core.roomId, id: lpduId, json, lpduHash }]);
    return echoed;
  }

  /** A retried client send: the event its LPDU became, once the hub has echoed it. */
  private async resumeViaHub(pending: { lpduHash: string; lpduId: string; json: string }): Promise<Verdict> {
    const known = this.core.store.getEventIdByLpduHash(pending.lpduHash);
    if (known) return { outcome: "duplicate", eventId: known };
    const echoed = this.echoOf(pending.lpduHash);
    // Queues drop duplicates, and the hub accepts an LPDU once: this only matters if the first
    // attempt died before its LPDU reached the queue.
    await this.ports.federation.enqueue(this.hub, [{ roomId: this.core.roomId, id: pending.lpduId, json: pending.json, lpduHash: pending.lpduHash }]);
    return echoed;
  }

  /** Settles with the hub's verdict on an LPDU: its PDU arrived, it was refused, or time ran out. Callers share one wait. */
  private echoOf(lpduHash: string): Promise<Verdict> {
    const existing = this.echoWaiters.get(lpduHash);
    if (existing) return existing.promise;
    let resolve!: Waiter["resolve"];
    const promise = new Promise<Verdict>((res) => (resolve = res));
    const timer = setTimeout(() => {
      this.echoWaiters.delete(lpduHash);
      resolve(rejected("echo", "The room's hub did not confirm the event in time", 504, "M_UNKNOWN"));
    }, ECHO_TIMEOUT_MS);
    this.echoWaiters.set(lpduHash, { promise, resolve, timer });
    return promise;
  }

  private settleEcho(lpduHash: string, v: Verdict): void {
    const w = this.echoWaiters.get(lpduHash);
    if (!w) return;
    clearTimeout(w.timer);
    this.echoWaiters.delete(lpduHash);
    w.resolve(v);
  }

  private resolveEcho(pdu: Pdu, eventId: string): void {
    const h = pdu.hashes.lpdu?.sha256;
    if (h !== undefined) this.settleEcho(h, { outcome: "accepted", eventId, pdu });
  }

  lpduRejected(lpduHash: string, error: string, details: Readonly<Record<string, unknown>> = {}): void {
    // A refused LPDU is not waited for again: a retry of its client transaction sends anew.
    this.core.store.deletePendingClientTxns(lpduHash);
    // An MLS refusal names the group's current epoch, which the client needs to rebase its commit.
    this.settleEcho(lpduHash, rejected("hub", `The hub refused the event: ${error}`, 403, "M_FORBIDDEN", mlsErrorFields(details)));
  }

  /**
   * A local user invites someone: an LPDU over /send when the invitee's server already takes part
   * (or is us), else the hub's /invite, which asks the invitee's server to sign it.
   */
  async invite(sender: string, target: string, content: JsonObject): Promise<Verdict> {
    const member = { type: "m.room.member", state_key: target, content: { ...content, membership: "invite" } };
    const targetServer = serverNameOf(target);
    if (targetServer === this.ports.serverName || this.core.state.isServerJoined(targetServer)) return this.sendViaHub(sender, member);
    const { roomId, version } = this.core.identity;
    const lpdu = await buildLpdu({ room_id: roomId, sender, origin_server_ts: Date.now(), ...member }, await this.ports.signingKey(), this.hub);
    const txnId = (await eventIdOf(lpdu, version)).slice(1);
    const res = await this.ports.federation.request(this.hub, "POST", `${LM_PREFIX}/invite/${encodeURIComponent(txnId)}`, {
      event: lpdu,
      room_version: version.id,
      invite_room_state: this.core.state.stripped(),
    });
    const body = res.body as { pdu?: unknown; event?: unknown; error?: unknown } | null;
    const pdu = (body?.pdu ?? body?.event) as Pdu | undefined;
    if (res.status !== 200 || typeof pdu !== "object" || pdu === null) {
      const reason = `Invite failed at the hub: ${String(body?.error ?? res.status)}`;
      return res.status === 403 ? rejected("hub", reason) : rejected("hub", reason, 502, "M_UNKNOWN");
    }
    return { outcome: "accepted", eventId: await eventIdOf(pdu, version), pdu };
  }

  async inviteRemote(): Promise<Verdict> {
    return wrongServer();
  }

  membershipTemplate(): Rejected {
    return wrongServer();
  }

  async membershipAnswer(_w: Writer, _origin: string, lpdu: Lpdu, membership: MembershipKind): Promise<JoinAnswer | Rejected> {
    return membershipShapeError(lpdu, membership) ?? wrongServer();
  }

  destinationsOf(): string[] {
    return [];
  }
}
