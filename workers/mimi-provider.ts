// Which MIMI provider sent a request: the peer its client certificate (or, locally, the stand-in)
// authenticates through the mimi_peers table (workers/mimi-peer-auth.ts, SECURITY.md).

import { authenticateMimiPeer } from "./mimi-peer-auth.js";

/** The authenticated provider domain of an inbound MIMI request; 401/403 when there is none. */
export async function requestingProvider(req: Request, env: Env): Promise<string> {
  return (await authenticateMimiPeer(req, env)).domain;
}
