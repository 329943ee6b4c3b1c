// Checks X-Matrix request signatures (draft -04 "Request Authentication"). Every credential presented
// must verify under a current key of its origin; any failure (no header, a malformed one, a wrong
// destination, an unknown key, a bad signature) is 401 M_UNAUTHORIZED, Matrix's code for a request
// that is not correctly authenticated, as Synapse answers; draft -04 names M_FORBIDDEN, which Matrix
// keeps for an authenticated server that may not do the thing (403).

import { decodeBase64 } from "../shared/base64.js";
import { canonicalJsonBytes } from "../shared/canonical-json.js";
import { MatrixError } from "../shared/errors.js";
import type { ServerName } from "../shared/ids.js";
import { verifyEd25519 } from "../shared/signing-key.js";
import { parseXMatrixHeader, signedRequestObject, type XMatrixCredentials } from "../shared/x-matrix.js";
import type { Config } from "./config.js";
import type { VerifyKeyLookup } from "./remote-keys.js";

const unauthorized = (message: string): MatrixError => new MatrixError(401, "M_UNAUTHORIZED", message);

/** At most this many credentials are checked; more is no legitimate key rotation. */
const MAX_CREDENTIALS = 8;

/**
 * The request target as sent: path and query, percent-encoding untouched. Taken from the URL string
 * rather than URL.pathname so nothing is re-encoded or normalised on the way.
 */
export function requestTarget(url: string): string {
  const afterScheme = url.indexOf("://");
  const pathStart = url.indexOf("/", afterScheme < 0 ? 0 : afterScheme + 3);
  if (pathStart < 0) return "/";
  const target = url.slice(pathStart);
  const hash = target.indexOf("#");
  return hash < 0 ? target : target.slice(0, hash);
}

/**
 * Authenticates a federation request and returns its origin. `content` is the strictly parsed JSON
 * body, or undefined when the request has none; then both signed forms are tried, without a
 * `content` key (Matrix servers, the reference implementation) and with `content: {}` (the draft).
 */
export async function authenticateFederationRequest(
  req: Request,
  content: unknown,
  config: Pick<Config, "serverName">,
  keys: VerifyKeyLookup,
): Promise<ServerName> {
  const header = req.headers.get("authorization");
  if (header === null) throw unauthorized("Missing Authorization header");
  const credentials = parseXMatrixHeader(header);
  if (credentials.length === 0) throw unauthorized("Missing X-Matrix Authorization header");
  if (credentials.length > MAX_CREDENTIALS) throw unauthorized("Too many X-Matrix credentials");
  const origin = credentials[0]?.origin as ServerName;
  if (credentials.some((c) => c.origin !== origin)) throw unauthorized("X-Matrix credentials name different origins");

  const uri = requestTarget(req.url);
  const contents = content === undefined ? [undefined, {}] : [content];
  for (const c of credentials) await checkCredential(c, req.method, uri, contents, config.serverName, keys);
  return origin;
}

async function checkCredential(
  c: XMatrixCredentials,
  method: string,
  uri: string,
  contents: readonly unknown[],
  us: ServerName,
  keys: VerifyKeyLookup,
): Promise<void> {
  if (c.destination !== undefined && c.destination !== us) {
    throw unauthorized(`Request is for ${c.destination}, not this server`);
  }
  let sig: Uint8Array;
  try {
    sig = decodeBase64(c.sig);
  } catch {
    throw unauthorized("X-Matrix sig is not base64");
  }
  const publicKey = await keys.getVerifyKey(c.origin, c.key);
  if (!publicKey) throw unauthorized(`No current key ${c.key} for ${c.origin}`);
  for (const content of contents) {
    let bytes: Uint8Array;
    try {
      bytes = canonicalJsonBytes(signedRequestObject(method, uri, c.origin, c.destination ?? us, content));
    } catch {
      throw unauthorized("Request body cannot be signed (not canonical JSON)");
    }
    if (await verifyEd25519(publicKey, sig, bytes)) return;
  }
  throw unauthorized(`Signature error on request (key ${c.key} of ${c.origin})`);
}
