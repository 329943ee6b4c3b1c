// Which MIMI provider sent a request, and how this server names itself to one. -06 authenticates
// providers with mutual TLS; that lands with the peer table (mimi_peers, branch mimic). TEMPORARY until
// it does: the provider is read from a header and trusted as is, which is only acceptable in tests.

import { MatrixError } from "../shared/errors.js";
import { isServerName } from "../shared/ids.js";
import type { Config } from "./config.js";

export const MIMI_PROVIDER_HEADER = "x-switchboard-mimi-provider";

/** The authenticated provider of an inbound MIMI request; 401 when there is none. */
export async function requestingProvider(req: Request, _env: Env): Promise<string> {
  const p = req.headers.get(MIMI_PROVIDER_HEADER);
  if (p === null || !isServerName(p)) throw new MatrixError(401, "M_UNAUTHORIZED", "MIMI requests must come from an authenticated provider");
  return p;
}

/** Headers that authenticate this server to a MIMI peer. */
export function providerHeaders(config: Config): Record<string, string> {
  return { [MIMI_PROVIDER_HEADER]: config.serverName };
}
