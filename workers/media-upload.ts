// Uploads (client-server API, "Content repository"): POST /media/v3/upload stores at once;
// POST /media/v1/create reserves an mxc URI that PUT /media/v3/upload/{serverName}/{mediaId} fills
// later (only by its creator, only once). The bytes go to R2 first and the D1 row after, so a row
// with a key always has its object; a rejected upload stores nothing.

import { isValidContentType, isValidFilename } from "../shared/content-disposition.js";
import { forbidden, limitExceeded, MatrixError, notFound } from "../shared/errors.js";
import type { RouteTable, SbRequest } from "./app.js";
import { requireUser } from "./client-auth.js";
import { param } from "./client-common.js";
import { json, readBodyBytes } from "./http.js";
import { checkMediaRef, localKey, maxUploadBytes, newMediaId } from "./media-store.js";
import { completePending, countPending, getMedia, insertPending, insertUploaded, type StoredMedia } from "./storage/media.js";

/** A reservation unused this long expires (the spec's unused_expires_at). */
const RESERVATION_TTL_MS = 24 * 60 * 60 * 1000;
/** Reservations a user may have waiting at once; more is 429 M_LIMIT_EXCEEDED. */
const MAX_PENDING_PER_USER = 10;

const DEFAULT_CONTENT_TYPE = "application/octet-stream";

/** Content type and filename of an upload, checked before any byte is read. */
function uploadMeta(req: Request): { contentType: string; filename: string | null } {
  const contentType = req.headers.get("content-type")?.trim() || DEFAULT_CONTENT_TYPE;
  if (!isValidContentType(contentType)) throw new MatrixError(400, "M_INVALID_PARAM", "Content-Type must be type/subtype");
  const filename = new URL(req.url).searchParams.get("filename");
  if (filename !== null && filename !== "" && !isValidFilename(filename)) {
    throw new MatrixError(400, "M_INVALID_PARAM", "filename must be 1-255 characters without control characters or slashes");
  }
  return { contentType, filename: filename === "" ? null : filename };
}

/** Reads the body (413 M_TOO_LARGE past the limit) and stores it in R2 under a fresh key. */
async function storeBody(req: Request, env: Env, mediaId: string): Promise<StoredMedia> {
  const { contentType, filename } = uploadMeta(req);
  const max = maxUploadBytes(env);
  const bytes = await readBodyBytes(req, max);
  const r2Key = localKey(mediaId);
  await env.MEDIA.put(r2Key, bytes, { httpMetadata: { contentType } });
  return { r2Key, contentType, filename, size: bytes.byteLength };
}

async function upload(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const origin = req.config.serverName;
  const mediaId = newMediaId();
  const stored = await storeBody(req, env, mediaId);
  await insertUploaded(env.DB, origin, mediaId, userId, stored, Date.now());
  return json({ content_uri: `mxc://${origin}/${mediaId}` });
}

async function create(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const now = Date.now();
  if ((await countPending(env.DB, userId, now)) >= MAX_PENDING_PER_USER) throw limitExceeded(60_000);
  const mediaId = newMediaId();
  const expires = now + RESERVATION_TTL_MS;
  await insertPending(env.DB, req.config.serverName, mediaId, userId, now, expires);
  return json({ content_uri: `mxc://${req.config.serverName}/${mediaId}`, unused_expires_at: expires });
}

const cannotOverwrite = () => new MatrixError(409, "M_CANNOT_OVERWRITE_MEDIA", "This media has already been uploaded");

async function uploadToReservation(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const serverName = param(req, "serverName");
  const mediaId = param(req, "mediaId");
  checkMediaRef(serverName, mediaId);
  if (serverName !== req.config.serverName) throw notFound("Media not found");
  uploadMeta(req);
  const row = await getMedia(env.DB, serverName, mediaId);
  if (!row || row.uploader === null) throw notFound("Media not found");
  if (row.uploader !== userId) throw forbidden("Only the user who created this media ID may upload to it");
  if (row.r2_key !== null) throw cannotOverwrite();
  if ((row.unused_expires_ts ?? 0) <= Date.now()) throw notFound("This media ID has expired");
  const stored = await storeBody(req, env, mediaId);
  if (!(await completePending(env.DB, serverName, mediaId, stored, Date.now()))) {
    // Another upload won the race, or the reservation expired meanwhile: ours must not linger.
    await env.MEDIA.delete(stored.r2Key);
    const now = await getMedia(env.DB, serverName, mediaId);
    throw now?.r2_key ? cannotOverwrite() : notFound("This media ID has expired");
  }
  return json({});
}

async function config(req: SbRequest, env: Env): Promise<Response> {
  await requireUser(req, env);
  return json({ "m.upload.size": maxUploadBytes(env) });
}

export function mountMediaUpload(t: RouteTable): void {
  t.add("post", "/_matrix/media/v3/upload", upload);
  t.add("post", "/_matrix/media/r0/upload", upload);
  t.add("post", "/_matrix/media/v1/create", create);
  t.add("put", "/_matrix/media/v3/upload/:serverName/:mediaId", uploadToReservation);
  t.add("get", "/_matrix/client/v1/media/config", config);
  t.add("get", "/_matrix/media/v3/config", config);
  t.add("get", "/_matrix/media/r0/config", config);
}
