// The federation media endpoints (server-server API, "Content repository", Matrix 1.11):
// GET /_matrix/federation/v1/media/download/{mediaId} and /thumbnail/{mediaId}, answered as
// multipart/mixed: a JSON metadata part ({} today), then the media with its Content-Type and
// Content-Disposition. Only our own uploads are served: cached remote media is its origin's to serve.

import { encodeBase64Url } from "../shared/base64.js";
import { limitExceeded } from "../shared/errors.js";
import { buildMultipartMixed } from "../shared/multipart-mixed.js";
import { parseRateLimits } from "../shared/token-bucket.js";
import type { RouteTable, SbRequest } from "./app.js";
import { authenticateFederationRequest } from "./federation-auth.js";
import { pathParam } from "./http.js";
import { checkMediaRef, localMedia, mediaHeaders, readObject, thumbnailFilename, waitParam } from "./media-store.js";
import { localThumbnail, thumbnailQuery } from "./media-thumbnails.js";
import { remoteKeyStore } from "./remote-keys.js";

/** X-Matrix authentication, charged to the origin's federation request rate. */
async function authenticated(req: SbRequest, env: Env): Promise<void> {
  const origin = await authenticateFederationRequest(req, undefined, req.config, remoteKeyStore(env, req.config));
  const { serverRequests } = parseRateLimits(env.RATE_LIMITS);
  const key = `server:${origin}`;
  const verdict = await env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(key)).take(key, serverRequests.capacity, serverRequests.refillPerSecond);
  if (!verdict.ok) throw limitExceeded(verdict.retryAfterMs);
}

async function multipart(env: Env, key: string, contentType: string, filename: string | null): Promise<Response> {
  const bytes = new Uint8Array(await (await readObject(env, key)).arrayBuffer());
  const h = mediaHeaders(contentType, filename);
  const boundary = encodeBase64Url(crypto.getRandomValues(new Uint8Array(24)));
  const body = buildMultipartMixed(boundary, [
    { headers: { "Content-Type": "application/json" }, body: new TextEncoder().encode("{}") },
    { headers: { "Content-Type": contentType, "Content-Disposition": h["content-disposition"] as string }, body: bytes },
  ]);
  return new Response(body, { status: 200, headers: { "content-type": `multipart/mixed; boundary=${boundary}` } });
}

function ourMedia(req: SbRequest): string {
  const mediaId = pathParam(req, "mediaId");
  checkMediaRef(req.config.serverName, mediaId);
  return mediaId;
}

async function download(req: SbRequest, env: Env): Promise<Response> {
  await authenticated(req, env);
  const mediaId = ourMedia(req);
  const stored = await localMedia(env, req.config.serverName, mediaId, waitParam(new URL(req.url).searchParams));
  return multipart(env, stored.r2Key, stored.contentType, stored.filename);
}

async function thumbnail(req: SbRequest, env: Env): Promise<Response> {
  await authenticated(req, env);
  const mediaId = ourMedia(req);
  const q = new URL(req.url).searchParams;
  const spec = thumbnailQuery(q);
  const stored = await localMedia(env, req.config.serverName, mediaId, waitParam(q));
  const thumb = await localThumbnail(env, req.config.serverName, mediaId, stored, spec);
  return multipart(env, thumb.key, thumb.contentType, thumbnailFilename(thumb.contentType));
}

export function mountMediaFederation(t: RouteTable): void {
  t.add("get", "/_matrix/federation/v1/media/download/:mediaId", download);
  t.add("get", "/_matrix/federation/v1/media/thumbnail/:mediaId", thumbnail);
}
