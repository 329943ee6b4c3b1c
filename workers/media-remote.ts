// Remote media, fetched over federation when a local user first asks for it and cached in R2 (with
// its row in D1) from then on. Servers answer GET /_matrix/federation/v1/media/download|thumbnail
// with multipart/mixed: a JSON metadata part, then the media or a Location to fetch it from. Servers
// that predate those endpoints (404 M_UNRECOGNIZED) are asked on the older unauthenticated
// /_matrix/media/v3 paths instead.

import { filenameOfDisposition, isValidContentType, isValidFilename } from "../shared/content-disposition.js";
import { MatrixError, notFound } from "../shared/errors.js";
import type { ServerName } from "../shared/ids.js";
import { multipartBoundary, parseMultipartMixed } from "../shared/multipart-mixed.js";
import { refusedHostReason } from "../shared/server-name-resolution.js";
import type { ThumbnailSpec } from "../shared/thumbnail-size.js";
import { signRequest } from "../shared/x-matrix.js";
import type { Config } from "./config.js";
import { maxUploadBytes, remoteKey, thumbnailKey } from "./media-store.js";
import { decodeUtf8, fetchBounded, RemoteFetchError, type RemoteResponse } from "./remote-fetch.js";
import { resolveServerName } from "./resolve.js";
import { getMedia, insertUploaded, storedMedia, type StoredMedia } from "./storage/media.js";

/** Room for the multipart framing and metadata around the media itself. */
const FRAMING_BYTES = 64 * 1024;

export interface FetchedMedia {
  contentType: string;
  filename: string | null;
  bytes: Uint8Array;
}

const unreachable = (origin: string, why: string) => new MatrixError(502, "M_UNKNOWN", `Could not fetch media from ${origin}: ${why}`);
const remoteTooLarge = (origin: string) => new MatrixError(502, "M_TOO_LARGE", `Media from ${origin} is larger than this server accepts`);

function errcodeOf(res: RemoteResponse): string | undefined {
  try {
    const body = JSON.parse(decodeUtf8(res.bytes) ?? "") as { errcode?: unknown };
    return typeof body.errcode === "string" ? body.errcode : undefined;
  } catch {
    return undefined;
  }
}

async function get(config: Config, origin: string, url: string, headers: Headers, timeoutMs: number, maxBytes: number): Promise<RemoteResponse> {
  try {
    return await fetchBounded(url, { method: "GET", headers, redirect: "manual" }, timeoutMs, maxBytes + FRAMING_BYTES);
  } catch (err) {
    if (err instanceof RemoteFetchError && /larger than/.test(err.message)) throw remoteTooLarge(origin);
    throw unreachable(origin, err instanceof Error ? err.message : String(err));
  }
}

/** A status other than 200 from the origin, as the error our client sees. */
function remoteFailure(origin: string, res: RemoteResponse): MatrixError {
  const code = errcodeOf(res);
  if (res.status === 404) return notFound("Media not found");
  if (res.status === 504 && code === "M_NOT_YET_UPLOADED") return new MatrixError(504, "M_NOT_YET_UPLOADED", "The media has not been uploaded yet");
  if (code === "M_TOO_LARGE") return remoteTooLarge(origin);
  return unreachable(origin, `it answered ${res.status}${code ? ` ${code}` : ""}`);
}

function mediaFromPart(headers: Map<string, string> | Headers, bytes: Uint8Array): FetchedMedia {
  const get = (k: string) => (headers instanceof Headers ? headers.get(k) : (headers.get(k) ?? null));
  const type = get("content-type")?.trim() ?? "";
  const name = filenameOfDisposition(get("content-disposition"));
  return { contentType: isValidContentType(type) ? type : "application/octet-stream", filename: name !== null && isValidFilename(name) ? name : null, bytes };
}

/** The media part of a federation answer, following a Location part to where the bytes are. */
async function fromMultipart(config: Config, origin: string, res: RemoteResponse, timeoutMs: number, maxBytes: number): Promise<FetchedMedia> {
  const boundary = multipartBoundary(res.headers.get("content-type"));
  const parts = boundary === undefined ? undefined : parseMultipartMixed(boundary, res.bytes);
  const media = parts?.[1];
  if (!media) throw unreachable(origin, "its answer is not the multipart/mixed the spec defines");
  if (media.body.byteLength > maxBytes) throw remoteTooLarge(origin);
  const location = media.headers.get("location");
  if (location === undefined) return mediaFromPart(media.headers, media.body);
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw unreachable(origin, "its Location is not a URL");
  }
  const mapped = config.hostMap.has(origin);
  if ((url.protocol !== "https:" && !mapped) || (!mapped && refusedHostReason(url.hostname) !== undefined)) {
    throw unreachable(origin, "its Location is not a public https URL");
  }
  const redirected = await get(config, origin, url.toString(), new Headers(), timeoutMs, maxBytes);
  if (redirected.status !== 200) throw remoteFailure(origin, redirected);
  if (redirected.bytes.byteLength > maxBytes) throw remoteTooLarge(origin);
  return mediaFromPart(redirected.headers, redirected.bytes);
}

/** Fetches `mediaId` (or its thumbnail) from `origin`, whose media it is. */
async function fetchRemote(config: Config, env: Env, origin: ServerName, mediaId: string, thumb: ThumbnailSpec | undefined, timeoutMs: number): Promise<FetchedMedia> {
  const maxBytes = maxUploadBytes(env);
  const target = await resolveServerName(origin, config.hostMap, { timeoutMs }).catch((err: unknown) => {
    // Our own refusal (an address we will not contact, a bad name) is the client's answer, not a gateway failure.
    if (err instanceof MatrixError && err.status < 500) throw err;
    throw unreachable(origin, err instanceof Error ? err.message : String(err));
  });
  const q = thumb ? `?width=${thumb.width}&height=${thumb.height}&method=${thumb.method}&timeout_ms=${timeoutMs}` : `?timeout_ms=${timeoutMs}`;
  const path = `/_matrix/federation/v1/media/${thumb ? "thumbnail" : "download"}/${encodeURIComponent(mediaId)}${q}`;
  const headers = new Headers({ authorization: await signRequest(config.signingKey, config.serverName, origin, "GET", path) });
  const res = await get(config, origin, `${target.baseUrl}${path}`, headers, timeoutMs, maxBytes);
  if (res.status === 200) return fromMultipart(config, origin, res, timeoutMs, maxBytes);
  if (!((res.status === 404 || res.status === 400) && errcodeOf(res) === "M_UNRECOGNIZED")) throw remoteFailure(origin, res);
  // A server from before Matrix 1.11: its unauthenticated media API answers the bytes directly.
  const legacy = `/_matrix/media/v3/${thumb ? "thumbnail" : "download"}/${encodeURIComponent(origin)}/${encodeURIComponent(mediaId)}${q}${q ? "&" : "?"}allow_remote=false`;
  const old = await get(config, origin, `${target.baseUrl}${legacy}`, new Headers(), timeoutMs, maxBytes);
  if (old.status !== 200) throw remoteFailure(origin, old);
  if (old.bytes.byteLength > maxBytes) throw remoteTooLarge(origin);
  return mediaFromPart(old.headers, old.bytes);
}

/** A remote server's media, from the cache or fetched and cached now. */
export async function remoteMedia(config: Config, env: Env, origin: ServerName, mediaId: string, timeoutMs: number): Promise<StoredMedia> {
  const row = await getMedia(env.DB, origin, mediaId);
  const cached = row ? storedMedia(row) : undefined;
  if (cached) return cached;
  const m = await fetchRemote(config, env, origin, mediaId, undefined, timeoutMs);
  const stored: StoredMedia = { r2Key: remoteKey(origin, mediaId), contentType: m.contentType, filename: m.filename, size: m.bytes.byteLength };
  await env.MEDIA.put(stored.r2Key, m.bytes, { httpMetadata: { contentType: m.contentType } });
  await insertUploaded(env.DB, origin, mediaId, null, stored, Date.now());
  return stored;
}

/** A remote server's thumbnail of its media, cached in R2 under the snapped size. */
export async function remoteThumbnail(config: Config, env: Env, origin: ServerName, mediaId: string, spec: ThumbnailSpec, timeoutMs: number): Promise<{ key: string; contentType: string }> {
  const key = thumbnailKey(origin, mediaId, spec);
  const head = await env.MEDIA.head(key);
  if (head) return { key, contentType: head.httpMetadata?.contentType ?? "application/octet-stream" };
  const m = await fetchRemote(config, env, origin, mediaId, spec, timeoutMs);
  await env.MEDIA.put(key, m.bytes, { httpMetadata: { contentType: m.contentType } });
  return { key, contentType: m.contentType };
}
