// The Outbound RPC entrypoint: Durable Objects may not import workers/, so they reach signed
// federation requests (federation-request.ts) through this class over the OUTBOUND service binding
// (wrangler.toml). Methods return plain data and never throw for remote failures.

import { WorkerEntrypoint } from "cloudflare:workers";
import { toMatrixError } from "../shared/errors.js";
import type { StrippedStateEvent } from "../shared/room-state.js";
import { getConfig, type Config } from "./config.js";
import { failure, federationRequest, federationRequestCanonical, sendTransactionPath, type FederationResponse } from "./federation-request.js";
import { mlsDeviceKeys } from "./mls-devices.js";
import { backfillVerified, fetchVerified, inviteAndVerify, type BackfillResult, type InviteResult } from "./room-services.js";
import { dispatchToDevice, type LocalToDevice } from "./to-device.js";

// Kept importable from here for callers written before the split.
export { federationRequest, sendTransactionPath, type FederationResponse, type JsonBody } from "./federation-request.js";

/** RPC entrypoint for Durable Objects (binding OUTBOUND; see wrangler.toml). */
export class Outbound extends WorkerEntrypoint<Env> {
  /** The configuration, or the failure answer every method gives when it is invalid. */
  private async config(): Promise<Config | FederationResponse> {
    try {
      return await getConfig(this.env);
    } catch (err) {
      // getConfig has logged what is wrong; the caller's queue records the same message.
      return failure(0, "M_UNKNOWN", toMatrixError(err).message);
    }
  }

  async request(destination: string, method: string, path: string, body?: unknown, timeoutMs?: number): Promise<FederationResponse> {
    const config = await this.config();
    if ("status" in config) return config;
    return federationRequest(config, undefined, destination, method, path, body, timeoutMs);
  }

  /** PUT /send/:txnId on the LM path; `body` is the transaction ({origin, origin_server_ts, pdus, edus}). */
  async sendTransaction(destination: string, txnId: string, body: unknown): Promise<FederationResponse> {
    return this.request(destination, "PUT", sendTransactionPath(txnId), body);
  }

  /** As sendTransaction, with the transaction already encoded as canonical JSON (sent and signed as is). */
  async sendTransactionCanonical(destination: string, txnId: string, canonicalBody: string): Promise<FederationResponse> {
    const config = await this.config();
    if ("status" in config) return config;
    return federationRequestCanonical(config, destination, "PUT", sendTransactionPath(txnId), canonicalBody);
  }

  /** POST /invite to the invitee's server for a room we host; the answer's signature is checked. */
  async inviteAndVerify(target: string, eventId: string, pdu: Record<string, unknown>, roomVersion: string, stripped: StrippedStateEvent[]): Promise<InviteResult> {
    return inviteAndVerify(this.env, await getConfig(this.env), target, eventId, pdu, roomVersion, stripped);
  }

  /** Events a participant missed, fetched from the hub's backfill and verified. */
  async backfillVerified(hub: string, roomId: string, upTo: string, limit: number, roomVersion: string): Promise<BackfillResult> {
    return backfillVerified(this.env, await getConfig(this.env), hub, roomId, upTo, limit, roomVersion);
  }

  /** A request whose answer holds PDUs (get_missing_events, event, state), each verified for the room version. */
  async fetchVerified(destination: string, method: string, path: string, body: unknown, roomVersion: string): Promise<BackfillResult> {
    return fetchVerified(this.env, await getConfig(this.env), destination, method, path, body, roomVersion);
  }

  /**
   * For a Room's MLS checks: the MLS signature key of each asked device's valid published credential
   * (null: unknown, invalid or not an MLS device), from D1 for our users and over federation for others'.
   * `query` is user ID -> device IDs; the answer has the shape of MlsDeviceKeys (durable-objects/room-mls.ts).
   */
  async mlsDevices(query: Record<string, unknown>): Promise<{ keys: Record<string, Record<string, string | null>>; unreachable: string[] }> {
    return mlsDeviceKeys(this.env.DB, await getConfig(this.env), query);
  }

  /** Sends held to-device messages on (a Room releasing Welcomes once their commit is accepted). */
  async deliverToDevice(sender: string, type: string, messagesJson: string, messageId: string): Promise<void> {
    const parsed = JSON.parse(messagesJson) as Array<{ target: string; targetDevice: string; content: LocalToDevice["content"] }>;
    const config = await getConfig(this.env);
    await dispatchToDevice(this.env, config.serverName, sender, parsed.map((m) => ({ ...m, type })), messageId);
  }
}
