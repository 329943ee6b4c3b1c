// Which thumbnail to make for a request (client-server API, "Thumbnails"): requests snap to the
// sizes the spec recommends, so each image has at most five cached thumbnails however many sizes
// clients ask for, and the answer is at least as large as asked where a size allows.

export type ThumbnailMethod = "crop" | "scale";

export interface ThumbnailSpec {
  width: number;
  height: number;
  method: ThumbnailMethod;
}

const SIZES: readonly ThumbnailSpec[] = [
  { width: 32, height: 32, method: "crop" },
  { width: 96, height: 96, method: "crop" },
  { width: 320, height: 240, method: "scale" },
  { width: 640, height: 480, method: "scale" },
  { width: 800, height: 600, method: "scale" },
];

/** The smallest recommended size of the method covering width x height, else the largest there is. */
export function snapThumbnail(width: number, height: number, method: ThumbnailMethod): ThumbnailSpec {
  const sameMethod = SIZES.filter((s) => s.method === method);
  const fits = sameMethod.find((s) => s.width >= width && s.height >= height);
  if (fits) return fits;
  // A crop larger than 96x96: the scaled sizes cover it, cropped to the asked aspect by the caller.
  if (method === "crop") {
    const scaled = SIZES.find((s) => s.method === "scale" && s.width >= width && s.height >= height);
    return { ...(scaled ?? (SIZES[SIZES.length - 1] as ThumbnailSpec)), method: "crop" };
  }
  return sameMethod[sameMethod.length - 1] as ThumbnailSpec;
}

export interface ResizePlan {
  /** The region of the source to use. */
  sx: number;
  sy: number;
  sw: number;
  sh: number;
  /** The output size. */
  width: number;
  height: number;
}

/**
 * How to turn a `srcW` x `srcH` image into `spec`: scale fits it inside the box keeping its aspect,
 * crop fills the box and cuts the overflow from the centre. Never scales up.
 */
export function planResize(srcW: number, srcH: number, spec: ThumbnailSpec): ResizePlan {
  if (spec.method === "scale") {
    const r = Math.min(1, spec.width / srcW, spec.height / srcH);
    return { sx: 0, sy: 0, sw: srcW, sh: srcH, width: Math.max(1, Math.round(srcW * r)), height: Math.max(1, Math.round(srcH * r)) };
  }
  const r = Math.min(1, Math.max(spec.width / srcW, spec.height / srcH));
  const sw = Math.min(srcW, Math.round(spec.width / r));
  const sh = Math.min(srcH, Math.round(spec.height / r));
  return {
    sx: Math.floor((srcW - sw) / 2),
    sy: Math.floor((srcH - sh) / 2),
    sw,
    sh,
    width: Math.max(1, Math.round(sw * r)),
    height: Math.max(1, Math.round(sh * r)),
  };
}
