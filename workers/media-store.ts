// Media bytes in R2 and their metadata in D1, and how stored media is served to a client: one place
// that knows the R2 key layout (local/, remote/, thumb/) and the response headers the spec asks for.

import { encodeBase64Url } from "../shared/base64.js";
import { contentDisposition, isSafeInline, MEDIA_CSP } from "../shared/content-disposition.js";
import { MatrixError, notFound } from "../shared/errors.js";
import { isServerName } from "../shared/ids.js";
import type { ThumbnailSpec } from "../shared/thumbnail-size.js";
import { getMedia, storedMedia, type StoredMedia } from "./storage/media.js";

/** 50 MiB, Synapse's default, unless MAX_UPLOAD_BYTES says otherwise. */
export const DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024;
/** A download waits at most this long for a /create reservation's upload (timeout_ms is capped here). */
export const MAX_WAIT_MS = 60_000;
export const DEFAULT_WAIT_MS = 20_000;

export function maxUploadBytes(env: Env): number {
  const n = Number(env.MAX_UPLOAD_BYTES);
  return Number.isSafeInteger(n) && n > 0 ? n : DEFAULT_MAX_UPLOAD_BYTES;
}

const MEDIA_ID = /^[A-Za-z0-9_-]{1,255}$/;

/** Media IDs we mint: 144 random bits, URL-safe. */
export function newMediaId(): string {
  return encodeBase64Url(crypto.getRandomValues(new Uint8Array(18)));
}

/** Unknown and malformed media alike are 404 M_NOT_FOUND, as the spec answers for media it lacks. */
export function checkMediaRef(serverName: string, mediaId: string): void {
  if (!isServerName(serverName) || !MEDIA_ID.test(mediaId)) throw notFound("Media not found");
}

export const localKey = (mediaId: string): string => `local/${mediaId}/${newMediaId()}`;
export const remoteKey = (origin: string, mediaId: string): string => `remote/${origin}/${mediaId}`;
export const thumbnailKey = (origin: string, mediaId: string, spec: ThumbnailSpec): string => `thumb/${origin}/${mediaId}/${spec.width}x${spec.height}-${spec.method}`;

/** timeout_ms from the query, capped, default DEFAULT_WAIT_MS. */
export function waitParam(query: URLSearchParams): number {
  const raw = query.get("timeout_ms");
  if (raw === null) return DEFAULT_WAIT_MS;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n)) throw new MatrixError(400, "M_INVALID_PARAM", "timeout_ms must be a non-negative integer");
  return Math.min(n, MAX_WAIT_MS);
}

const notYetUploaded = () => new MatrixError(504, "M_NOT_YET_UPLOADED", "The media has not been uploaded yet");

/**
 * Our own media's stored form. A /create reservation still waiting for its upload is waited for up
 * to `waitMs` (polling D1 once a second), then 504 M_NOT_YET_UPLOADED; unknown or expired is 404.
 */
export async function localMedia(env: Env, origin: string, mediaId: string, waitMs: number): Promise<StoredMedia> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const row = await getMedia(env.DB, origin, mediaId);
    if (!row || (row.r2_key === null && (row.unused_expires_ts ?? 0) <= Date.now())) throw notFound("Media not found");
    const stored = storedMedia(row);
    if (stored) return stored;
    const left = deadline - Date.now();
    if (left <= 0) throw notYetUploaded();
    await new Promise((r) => setTimeout(r, Math.min(1_000, left)));
  }
}

/** The object's bytes; a row whose object is gone (deleted by hand) counts as unknown media. */
export async function readObject(env: Env, key: string): Promise<R2ObjectBody> {
  const obj = await env.MEDIA.get(key);
  if (!obj) throw notFound("Media not found");
  return obj;
}

/** Headers for serving media: its type, the spec's Content-Disposition, and a sandboxing policy. */
export function mediaHeaders(contentType: string, filename: string | null): Record<string, string> {
  return {
    "content-type": contentType,
    "content-disposition": contentDisposition(contentType, filename),
    "content-security-policy": MEDIA_CSP,
    "cross-origin-resource-policy": "cross-origin",
    "x-content-type-options": "nosniff",
    // Media never changes once stored; only the requesting user's client may cache it (authenticated).
    "cache-control": "private, max-age=86400, immutable",
  };
}

export function serveObject(obj: R2ObjectBody, contentType: string, filename: string | null): Response {
  const headers = mediaHeaders(contentType, filename);
  headers["content-length"] = String(obj.size);
  return new Response(obj.body, { status: 200, headers });
}

/** A thumbnail's filename, so saving it gives a sensible name. */
export function thumbnailFilename(contentType: string): string | null {
  if (!isSafeInline(contentType)) return null;
  const ext = contentType.split("/")[1]?.split(/[;+]/)[0] ?? "bin";
  return `thumbnail.${ext}`;
}
