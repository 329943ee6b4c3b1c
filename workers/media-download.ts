// Authenticated media for clients (Matrix 1.11): GET /_matrix/client/v1/media/download and
// /thumbnail. Our own media is read from R2; other servers' media is fetched over federation on
// first request and cached (media-remote.ts).

import { isValidFilename } from "../shared/content-disposition.js";
import { MatrixError } from "../shared/errors.js";
import type { ServerName } from "../shared/ids.js";
import type { RouteTable, SbRequest } from "./app.js";
import { requireUser } from "./client-auth.js";
import { param } from "./client-common.js";
import { checkMediaRef, localMedia, readObject, serveObject, thumbnailFilename, waitParam } from "./media-store.js";
import { remoteMedia, remoteThumbnail } from "./media-remote.js";
import { localThumbnail, thumbnailQuery } from "./media-thumbnails.js";

function mediaRef(req: SbRequest): { serverName: ServerName; mediaId: string } {
  const serverName = param(req, "serverName");
  const mediaId = param(req, "mediaId");
  checkMediaRef(serverName, mediaId);
  return { serverName: serverName as ServerName, mediaId };
}

async function download(req: SbRequest, env: Env): Promise<Response> {
  await requireUser(req, env);
  const { serverName, mediaId } = mediaRef(req);
  const q = new URL(req.url).searchParams;
  const wait = waitParam(q);
  const rawName = (req.params as Record<string, string | undefined>)["fileName"];
  const override = rawName === undefined ? undefined : param(req, "fileName");
  if (override !== undefined && !isValidFilename(override)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid file name");
  const stored = serverName === req.config.serverName ? await localMedia(env, serverName, mediaId, wait) : await remoteMedia(req.config, env, serverName, mediaId, wait);
  return serveObject(await readObject(env, stored.r2Key), stored.contentType, override ?? stored.filename);
}

async function thumbnail(req: SbRequest, env: Env): Promise<Response> {
  await requireUser(req, env);
  const { serverName, mediaId } = mediaRef(req);
  const q = new URL(req.url).searchParams;
  const spec = thumbnailQuery(q);
  const wait = waitParam(q);
  const thumb =
    serverName === req.config.serverName
      ? await localThumbnail(env, serverName, mediaId, await localMedia(env, serverName, mediaId, wait), spec)
      : await remoteThumbnail(req.config, env, serverName, mediaId, spec, wait);
  return serveObject(await readObject(env, thumb.key), thumb.contentType, thumbnailFilename(thumb.contentType));
}

export function mountMediaDownload(t: RouteTable): void {
  t.add("get", "/_matrix/client/v1/media/download/:serverName/:mediaId", download);
  t.add("get", "/_matrix/client/v1/media/download/:serverName/:mediaId/:fileName", download);
  t.add("get", "/_matrix/client/v1/media/thumbnail/:serverName/:mediaId", thumbnail);
}
