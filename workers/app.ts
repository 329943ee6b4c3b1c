// The Worker's router: every route is mounted here; errors of any kind come back as Matrix JSON.

import { Router, type IRequest } from "itty-router";
import { MatrixError, toMatrixError, unrecognized } from "../shared/errors.js";
import { getConfig, type Config } from "./config.js";
import { corsHeaders, errorResponse, json } from "./http.js";
import { ownKeyDocument } from "./keys.js";

export type SbRequest = IRequest & { config: Config; receivedAt?: number };
export type Handler = (req: SbRequest, env: Env, ctx: ExecutionContext) => Promise<Response | undefined> | Response | undefined;

type Method = "get" | "post" | "put" | "delete";
export interface RouteTable {
  add(method: Method, path: string, handler: Handler): void;
}

/** Federation and key endpoints treat a trailing slash as unknown (draft "Requests and Responses"). */
const STRICT_PREFIXES = ["/_matrix/federation/", "/_matrix/key/"];

export function buildRouter(mounts: Array<(t: RouteTable) => void>) {
  const router = Router<SbRequest, [Env, ExecutionContext]>({
    before: [
      async (req, env) => {
        req.receivedAt = Date.now();
        const path = new URL(req.url).pathname;
        if (path.endsWith("/") && STRICT_PREFIXES.some((p) => path.startsWith(p))) throw unrecognized();
        if (req.method === "OPTIONS") return new Response(null, { status: 204 });
        try {
          req.config = await getConfig(env);
        } catch (err) {
          // getConfig logged the problem once; logging it again per request would bury it.
          const e = toMatrixError(err);
          return json(e.toJSON(), e.status);
        }
        return undefined;
      },
    ],
    catch: (err) => errorResponse(err),
    finally: [
      (res: Response | undefined, req: SbRequest) => {
        const out = res ?? errorResponse(unrecognized());
        for (const [k, v] of Object.entries(corsHeaders())) out.headers.set(k, v);
        // Time spent inside the Worker, so a caller can tell it from time queued in front of it (the
        // bench's latency tails). workerd's clock moves at I/O, so this runs to the last I/O awaited.
        if (req.receivedAt !== undefined) out.headers.set("server-timing", `handler;dur=${Date.now() - req.receivedAt}`);
        return out;
      },
    ],
  });
  const table: RouteTable = {
    add(method, path, handler) {
      router[method](path, handler as never);
    },
  };
  for (const mount of mounts) mount(table);
  // Last route: tell a wrong method (405) from an unknown path (404).
  router.all("*", (req) => {
    const path = new URL(req.url).pathname;
    const known = router.routes.some(([method, re, , route]) => method !== "ALL" && route !== "*" && re.test(path));
    if (known) throw new MatrixError(405, "M_UNRECOGNIZED", `Method ${req.method} not allowed here`);
    throw unrecognized();
  });
  return router;
}

export function mountKeys(t: RouteTable): void {
  t.add("get", "/_matrix/key/v2/server", async (req) => json(await ownKeyDocument(req.config, Date.now())));
  // Workers serve HTTPS on 443, never 8448: a server name without a port must delegate to 443 or
  // other servers would look for it on 8448 (draft "Resolving Server Names").
  t.add("get", "/.well-known/matrix/server", (req) => {
    const name = req.config.serverName;
    const hasPort = /:\d+$/.test(name);
    return json({ "m.server": hasPort ? name : `${name}:443` }, 200, { "cache-control": "max-age=86400" });
  });
  t.add("get", "/_matrix/federation/v1/version", () => json({ server: { name: "Switchboard", version: SWITCHBOARD_VERSION } }));
}

export const SWITCHBOARD_VERSION = "0.1.0";
