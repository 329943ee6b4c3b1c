// Users that exist only because of a converter: each named converter's service user and its
// ghosts. What they do in a room is a converter's own writing; carrying it into the paired room
// again would show one person twice there (a ghost of a ghost).

import { isUserId, serverNameOf } from "../ids.js";
import { parseGhost, serviceUserId } from "./ghost-user.js";

/** Whether `userId` is the service user or a ghost of one of `converters`. */
export function isConverterUser(userId: string, converters: readonly string[]): boolean {
  if (!isUserId(userId)) return false;
  const server: string = serverNameOf(userId);
  if (!converters.includes(server)) return false;
  return userId === serviceUserId(server) || parseGhost(userId, server) !== undefined;
}
