// Thumbnails of our own media, made on first request (shared/thumbnail-image.ts) and cached in R2
// under the snapped size, so each is made once. Also what the thumbnail endpoints' query means.

import { isSafeInline, mediaTypeEssence } from "../shared/content-disposition.js";
import { MatrixError } from "../shared/errors.js";
import { canThumbnail, makeThumbnail, ThumbnailError } from "../shared/thumbnail-image.js";
import { snapThumbnail, type ThumbnailSpec } from "../shared/thumbnail-size.js";
import { readObject, thumbnailKey } from "./media-store.js";
import type { StoredMedia } from "./storage/media.js";

/** Sources larger than this are not decoded (the pixel limit in thumbnail-image.ts applies too). */
const MAX_SOURCE_BYTES = 20 * 1024 * 1024;
/** Images we cannot decode (WebP, AVIF, APNG...) up to this size serve as their own thumbnail. */
const MAX_PASSTHROUGH_BYTES = 1024 * 1024;

const invalid = (message: string) => new MatrixError(400, "M_INVALID_PARAM", message);

function dimension(q: URLSearchParams, name: string): number {
  const raw = q.get(name);
  if (raw === null) throw new MatrixError(400, "M_MISSING_PARAM", `${name} is required`);
  if (!/^\d{1,5}$/.test(raw) || Number(raw) < 1) throw invalid(`${name} must be a positive integer`);
  return Number(raw);
}

/** The snapped thumbnail a width/height/method query asks for (400 for a malformed one). */
export function thumbnailQuery(q: URLSearchParams): ThumbnailSpec {
  const width = dimension(q, "width");
  const height = dimension(q, "height");
  const method = q.get("method") ?? "scale";
  if (method !== "scale" && method !== "crop") throw invalid("method must be crop or scale");
  const animated = q.get("animated");
  if (animated !== null && animated !== "true" && animated !== "false") throw invalid("animated must be true or false");
  return snapThumbnail(width, height, method);
}

export interface ThumbnailObject {
  key: string;
  contentType: string;
}

/**
 * The R2 object holding the thumbnail of our media `stored` for `spec`: cached, else made now. Small
 * images of types we cannot decode are their own thumbnail; anything else we cannot thumbnail is 400.
 */
export async function localThumbnail(env: Env, origin: string, mediaId: string, stored: StoredMedia, spec: ThumbnailSpec): Promise<ThumbnailObject> {
  if (!canThumbnail(stored.contentType)) {
    const type = mediaTypeEssence(stored.contentType);
    if (type.startsWith("image/") && isSafeInline(type) && stored.size <= MAX_PASSTHROUGH_BYTES) return { key: stored.r2Key, contentType: stored.contentType };
    throw new MatrixError(400, "M_UNKNOWN", `Cannot make a thumbnail of ${type || "this media"}`);
  }
  const key = thumbnailKey(origin, mediaId, spec);
  const head = await env.MEDIA.head(key);
  if (head) return { key, contentType: head.httpMetadata?.contentType ?? "image/png" };
  if (stored.size > MAX_SOURCE_BYTES) throw new MatrixError(413, "M_TOO_LARGE", "The image is too large to thumbnail");
  const source = new Uint8Array(await (await readObject(env, stored.r2Key)).arrayBuffer());
  let thumb;
  try {
    thumb = makeThumbnail(source, stored.contentType, spec);
  } catch (err) {
    if (!(err instanceof ThumbnailError)) throw err;
    if (err.reason === "too_large") throw new MatrixError(413, "M_TOO_LARGE", err.message);
    throw new MatrixError(400, "M_UNKNOWN", `Cannot make a thumbnail: ${err.message}`);
  }
  await env.MEDIA.put(key, thumb.bytes, { httpMetadata: { contentType: thumb.contentType } });
  return { key, contentType: thumb.contentType };
}
