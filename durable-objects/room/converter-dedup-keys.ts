// The room's table of converter dedup keys (room-converter-storage.ts), as its users need it.

export interface DedupKeys {
  eventWithKey(key: string): string | undefined;
  putKey(key: string, eventId: string, ts: number): void;
}
