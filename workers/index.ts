export { Room } from "../durable-objects/room.js";
export default {
  async fetch(): Promise<Response> {
    return new Response("{}");
  },
} satisfies ExportedHandler<Env>;
