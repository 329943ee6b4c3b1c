// Server key publication (draft -04 "Retrieving Server Keys", GET /_matrix/key/v2/server).

import { signJson } from "../shared/signed-json.js";
import type { Config } from "./config.js";

/** Keys are re-fetched by peers around valid_until_ts; the draft suggests about 12 hours ahead. */
export const KEY_VALIDITY_MS = 12 * 60 * 60 * 1000;

export async function ownKeyDocument(config: Config, now: number): Promise<Record<string, unknown>> {
  const doc = {
    server_name: config.serverName,
    valid_until_ts: now + KEY_VALIDITY_MS,
    "m.linearized": true,
    verify_keys: { [config.signingKey.keyId]: { key: config.signingKey.publicKeyBase64 } },
    old_verify_keys: {},
  };
  return signJson(doc, config.serverName, config.signingKey);
}
