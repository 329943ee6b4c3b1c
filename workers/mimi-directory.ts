// GET /.well-known/mimi-protocol-directory (MIMI -06 §5.1): this server's MIMI endpoint templates.
// Public, like /.well-known/matrix/server: it names URLs, and every endpoint it names authenticates.

import { MIMI_DIRECTORY_PATH, mimiDirectory } from "../shared/mimi/directory.js";
import type { RouteTable } from "./app.js";
import { json } from "./http.js";

export function mountMimiDirectory(t: RouteTable): void {
  // The origin the peer reached us on: behind Cloudflare that is the public https:// origin.
  t.add("get", `${MIMI_DIRECTORY_PATH}`, (req) => json(mimiDirectory(new URL(req.url).origin), 200, { "cache-control": "max-age=3600" }));
}
