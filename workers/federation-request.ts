// Signed federation requests to other servers (draft -04 "Request Authentication"), for the Worker's
// own handlers and, through the Outbound RPC entrypoint, for Durable Objects. Remote failures never
// throw: they come back as status 0 (nothing arrived) or the remote status, with a Matrix-style body.

import { canonicalJson } from "../shared/canonical-json.js";
import { toMatrixError } from "../shared/errors.js";
import { LM_PREFIX } from "../shared/federation-paths.js";
import { isServerName } from "../shared/ids.js";
import type { SigningKey } from "../shared/signing-key.js";
import { parseStrictJson } from "../shared/strict-json.js";
import { signRequest, signRequestCanonicalBody } from "../shared/x-matrix.js";
import type { Config } from "./config.js";
import { decodeUtf8, fetchBounded } from "./remote-fetch.js";
import { resolveServerName } from "./resolve.js";

/**
 * Any JSON value. Spelled `{} | null` rather than a recursive JSON type (too deep for the RPC type
 * mapping) or `unknown` (which RPC typing turns into `never`); narrow it before use.
 */
export type JsonBody = {} | null;

export interface FederationResponse {
  /** HTTP status, or 0 when no response arrived (refused, unresolvable, network error, timeout). */
  status: number;
  /** The parsed JSON body; a {errcode, error} object when there was none or it was not JSON. */
  body: JsonBody;
}

export const FEDERATION_TIMEOUT_MS = 30_000;
const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;
const METHODS = new Set(["GET", "PUT", "POST", "DELETE"]);

/** LM's send path for transaction `txnId`. */
export function sendTransactionPath(txnId: string): string {
  return `${LM_PREFIX}/send/${encodeURIComponent(txnId)}`;
}

export const failure = (status: number, errcode: string, error: string): FederationResponse => ({ status, body: { errcode, error } });

/**
 * Sends one signed request. `path` is the request target as it goes on the wire (already
 * percent-encoded, query included). `signingKeys` defaults to the configured key; with several, one
 * X-Matrix credential per key is sent, as the draft asks of servers with more than one key.
 * A request without `body` is signed without a `content` key.
 */
export async function federationRequest(
  config: Config,
  signingKeys: readonly SigningKey[] | undefined,
  destination: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs: number = FEDERATION_TIMEOUT_MS,
): Promise<FederationResponse> {
  return send(config, signingKeys, destination, method, path, body === undefined ? undefined : { value: body }, timeoutMs);
}

/** As federationRequest, with the body already encoded as canonical JSON (it is sent and signed as is). */
export function federationRequestCanonical(config: Config, destination: string, method: string, path: string, canonicalBody: string, timeoutMs = FEDERATION_TIMEOUT_MS): Promise<FederationResponse> {
  return send(config, undefined, destination, method, path, { canonical: canonicalBody }, timeoutMs);
}

async function send(
  config: Config,
  signingKeys: readonly SigningKey[] | undefined,
  destination: string,
  method: string,
  path: string,
  body: { value: unknown } | { canonical: string } | undefined,
  timeoutMs: number,
): Promise<FederationResponse> {
  const verb = method.toUpperCase();
  if (!isServerName(destination)) return failure(0, "M_INVALID_PARAM", `Not a valid server name: ${destination}`);
  if (!METHODS.has(verb)) return failure(0, "M_INVALID_PARAM", `Unsupported method ${method}`);
  if (!path.startsWith("/") || path.startsWith("//") || /[\s#]/.test(path)) {
    return failure(0, "M_INVALID_PARAM", "path must be an absolute, encoded request target");
  }
  let baseUrl: string | undefined;
  try {
    const target = await resolveServerName(destination, config.hostMap, { timeoutMs });
    baseUrl = target.baseUrl;
    const headers = new Headers({ accept: "application/json" });
    const payload = body === undefined ? undefined : "canonical" in body ? body.canonical : canonicalJson(body.value);
    for (const key of signingKeys ?? [config.signingKey]) {
      headers.append(
        "authorization",
        payload === undefined
          ? await signRequest(key, config.serverName, destination, verb, path)
          : await signRequestCanonicalBody(key, config.serverName, destination, verb, path, payload),
      );
    }
    // target.hostHeader is not sent: workerd derives Host from the URL and ignores an override (measured),
    // so a port-8448 target gets "name:8448" where the draft says "name"; servers accept both.
    if (payload !== undefined) headers.set("content-type", "application/json");
    const res = await fetchBounded(`${target.baseUrl}${path}`, { method: verb, headers, body: payload, redirect: "manual" }, timeoutMs, MAX_RESPONSE_BYTES);
    return { status: res.status, body: parseResponse(res.bytes) };
  } catch (err) {
    const e = toMatrixError(err);
    const why = err instanceof Error ? err.message : String(err);
    if (e.status === 500) return failure(0, "M_UNKNOWN", baseUrl === undefined ? `Request to ${destination} failed: ${why}` : `Cannot reach ${destination} at ${baseUrl}: ${why}`);
    return failure(0, e.errcode, e.message);
  }
}

function parseResponse(bytes: Uint8Array): JsonBody {
  const text = decodeUtf8(bytes);
  if (text === undefined) return { errcode: "M_NOT_JSON", error: "Response is not UTF-8" };
  if (text.trim() === "") return { errcode: "M_NOT_JSON", error: "Response has no body" };
  try {
    return parseStrictJson(text);
  } catch (err) {
    return { errcode: "M_NOT_JSON", error: `Response is not valid JSON: ${toMatrixError(err).message}` };
  }
}
