// One remote server's inbound transactions (draft "PUT /send/:txnId", "Transaction Identifiers").
// It holds the transaction in flight and recent answers, so a repeated txnId is answered without
// processing it again and a different txnId while one is in flight gets 400 M_BAD_STATE. It is
// also the one authority for that server's PDU rate.
//
// Two steps, so the Worker verifies signatures only for admitted transactions: `begin` admits (or
// answers from memory, or refuses), the Worker verifies, `finish` hands the items to their rooms.
// A transaction of at most one PDU and no EDUs takes one step, `receive`, after verification: a
// refusal then costs at most one signature check more, and every such transaction one round trip
// to this object less.
// Answers are kept in memory only: rooms drop duplicate events themselves, so reprocessing a
// transaction after an eviction gives the same outcome.
//
// A hub room whose fan-out is too far behind refuses a transaction's events with 429
// M_LIMIT_EXCEEDED (durable-objects/room-backpressure.ts). The whole transaction is then answered
// 429 and not remembered, so the sender retries it under the same ID; items other rooms took are
// dropped as duplicates then. Until retry_after_ms has passed, this origin's next transactions are
// refused at admission, before the Worker verifies their signatures: a sender honouring the wait
// sends nothing sooner anyway (one transaction in flight, in order). A transaction of several PDUs
// is also checked with the rooms it names before it is admitted (one cheap call each), so its
// signatures are verified only if they will take its events (they then hold room for them).

import { DurableObject } from "cloudflare:workers";
import { limitExceeded, MatrixError, toMatrixError } from "../shared/errors.js";
import type { Lpdu, Pdu } from "../shared/event.js";
import { parseRateLimits, takeFromBucket, type Bucket } from "../shared/token-bucket.js";
import type { FailedPdus } from "./room.js";

export interface InboundItem {
  /** The ID of what was received (failed_pdus is keyed by it). */
  id: string;
  roomId: string;
  lpdu?: Lpdu;
  pdu?: Pdu;
}

export interface TransactionAnswer {
  failed_pdus: FailedPdus;
}

const REMEMBERED = 256;
/** A transaction the sender has not finished after this long no longer blocks the next one. */
const STALE_MS = 120_000;

interface InFlight {
  txnId: string;
  started: number;
  done: Promise<TransactionAnswer>;
  resolve: (a: TransactionAnswer) => void;
}

export class Inbox extends DurableObject<Env> {
  private inFlight: InFlight | undefined;
  private readonly answers = new Map<string, TransactionAnswer>();
  private bucket: Bucket | undefined;
  /** Rooms pushed back: this origin's transactions are refused until then. */
  private pushedBackUntil = 0;

  /**
   * Admits transaction `txnId` of `pduCount` PDUs for `roomIds`. Returns the earlier answer for a
   * repeated ID; throws 400 M_BAD_STATE while another transaction is in flight and 429
   * M_LIMIT_EXCEEDED when the origin is over its PDU rate or a room's fan-out is behind.
   */
  async begin(origin: string, txnId: string, pduCount: number, roomIds: readonly string[] = []): Promise<{ answer?: TransactionAnswer }> {
    const done = this.answers.get(txnId);
    if (done) return { answer: done };
    const wait = this.pushedBackUntil - Date.now();
    if (wait > 0) throw limitExceeded(wait);
    if (pduCount > 1 && roomIds.length > 0) await this.checkRooms(origin, pduCount, roomIds);
    const current = this.inFlight;
    if (current && current.txnId !== txnId && Date.now() - current.started < STALE_MS) {
      throw new MatrixError(400, "M_BAD_STATE", `Transaction ${current.txnId} from ${origin} is still being processed`);
    }
    // The same ID again (the sender timed out and retried): process it again; rooms drop duplicates.
    if (current?.txnId === txnId) return {};
    const { bucket, result } = takeFromBucket(this.bucket, parseRateLimits(this.env.RATE_LIMITS).serverPdus, Date.now(), Math.max(1, pduCount));
    this.bucket = bucket;
    if (!result.ok) throw limitExceeded(result.retryAfterMs);
    let resolve!: (a: TransactionAnswer) => void;
    const donePromise = new Promise<TransactionAnswer>((r) => (resolve = r));
    this.inFlight = { txnId, started: Date.now(), done: donePromise, resolve };
    return {};
  }

  /**
   * Processes an admitted transaction's verified items. `preFailed` are items the Worker already
   * refused (bad signature or hash); they are reported alongside the rooms' refusals.
   */
  async finish(origin: string, txnId: string, items: InboundItem[], preFailed: FailedPdus): Promise<TransactionAnswer> {
    const done = this.answers.get(txnId);
    if (done) return done;
    let answer: TransactionAnswer;
    try {
      answer = await this.process(origin, items, preFailed);
    } catch (e) {
      // Pushed back: forgotten, so the same transaction is processed when it comes again.
      if (this.inFlight?.txnId === txnId) this.inFlight = undefined;
      throw e;
    }
    this.answers.set(txnId, answer);
    if (this.answers.size > REMEMBERED) this.answers.delete(this.answers.keys().next().value as string);
    if (this.inFlight?.txnId === txnId) {
      this.inFlight.resolve(answer);
      this.inFlight = undefined;
    }
    return answer;
  }

  /** `begin` then `finish`, for a transaction the Worker verified before admission (see the top of this file). */
  async receive(origin: string, txnId: string, pduCount: number, items: InboundItem[], preFailed: FailedPdus): Promise<TransactionAnswer> {
    const admitted = await this.begin(origin, txnId, pduCount);
    return admitted.answer ?? this.finish(origin, txnId, items, preFailed);
  }

  /** Throws 429 (and refuses this origin until then) while a room's fan-out is too far behind to take `pduCount` more events. */
  private async checkRooms(origin: string, pduCount: number, roomIds: readonly string[]): Promise<void> {
    const waits = await Promise.all(roomIds.map((r) => this.env.ROOM.get(this.env.ROOM.idFromName(r)).fanOutWait(origin, pduCount).catch(() => null)));
    const wait = Math.max(0, ...waits.map((w) => w ?? 0));
    if (wait === 0) return;
    this.pushedBackUntil = Date.now() + wait;
    throw limitExceeded(wait);
  }

  private async process(origin: string, items: InboundItem[], preFailed: FailedPdus): Promise<TransactionAnswer> {
    const byRoom = new Map<string, InboundItem[]>();
    for (const it of items) {
      const list = byRoom.get(it.roomId) ?? [];
      list.push(it);
      byRoom.set(it.roomId, list);
    }
    const failed: FailedPdus = { ...preFailed };
    let retryAfterMs: number | undefined;
    await Promise.all(
      [...byRoom].map(async ([roomId, list]) => {
        const room = this.env.ROOM.get(this.env.ROOM.idFromName(roomId));
        try {
          const f = await room.receive(
            origin,
            list.map(({ id, lpdu, pdu }) => ({ id, ...(lpdu ? { lpdu } : {}), ...(pdu ? { pdu } : {}) })),
          );
          Object.assign(failed, f);
        } catch (e) {
          const pushBack = retryAfterOf(e);
          if (pushBack !== undefined) {
            retryAfterMs = Math.max(retryAfterMs ?? 0, pushBack);
            return;
          }
          const error = e instanceof Error ? e.message : String(e);
          for (const it of list) failed[it.id] = { error };
        }
      }),
    );
    if (retryAfterMs !== undefined) {
      this.pushedBackUntil = Date.now() + retryAfterMs;
      throw limitExceeded(retryAfterMs);
    }
    return { failed_pdus: failed };
  }
}

/** retry_after_ms of a room's 429 M_LIMIT_EXCEEDED (its class is lost over RPC, its fields are not), else undefined. */
function retryAfterOf(e: unknown): number | undefined {
  const err = toMatrixError(e);
  if (err.errcode !== "M_LIMIT_EXCEEDED") return undefined;
  const ms = err.extra["retry_after_ms"];
  return typeof ms === "number" ? ms : 1_000;
}
