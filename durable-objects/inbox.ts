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

import { DurableObject } from "cloudflare:workers";
import { limitExceeded, MatrixError } from "../shared/errors.js";
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

  /**
   * Admits transaction `txnId` of `pduCount` PDUs. Returns the earlier answer for a repeated ID;
   * throws 400 M_BAD_STATE while another transaction is in flight and 429 M_LIMIT_EXCEEDED when
   * the origin is over its PDU rate.
   */
  async begin(origin: string, txnId: string, pduCount: number): Promise<{ answer?: TransactionAnswer }> {
    const done = this.answers.get(txnId);
    if (done) return { answer: done };
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
    const answer = await this.process(origin, items, preFailed);
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

  private async process(origin: string, items: InboundItem[], preFailed: FailedPdus): Promise<TransactionAnswer> {
    const byRoom = new Map<string, InboundItem[]>();
    for (const it of items) {
      const list = byRoom.get(it.roomId) ?? [];
      list.push(it);
      byRoom.set(it.roomId, list);
    }
    const failed: FailedPdus = { ...preFailed };
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
          const error = e instanceof Error ? e.message : String(e);
          for (const it of list) failed[it.id] = { error };
        }
      }),
    );
    return { failed_pdus: failed };
  }
}
