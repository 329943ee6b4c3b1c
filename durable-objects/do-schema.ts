// Versioned schemas for Durable Object SQLite storage. Each storage module names its schema and
// lists numbered migrations; `migrate` records the version reached in a `schema_versions` table
// and applies the missing migrations in order, all in one transaction, so an object is either at
// the old version or the new one, never half-way. Several modules may share one object's database
// (the Room has three), hence one row per schema name.
//
// Migration 1 of a schema that predates this module must accept the tables the old code created
// (CREATE ... IF NOT EXISTS), since such a database has tables but no recorded version.

export interface Migration {
  /** 1, 2, 3, … in order; each runs once per database. */
  readonly version: number;
  /** What the migration changes, for readers and for error messages. */
  readonly description: string;
  readonly up: (sql: SqlStorage) => void;
}

/** A migration step that runs these statements in order (a layout given as CREATE statements). */
export function runAll(statements: readonly string[]): Migration["up"] {
  return (sql) => {
    for (const statement of statements) sql.exec(statement);
  };
}

export interface Schema {
  /** Unique among the schemas that share a database, e.g. "user-stream". */
  readonly name: string;
  readonly migrations: readonly Migration[];
}

/** The stored schema is newer than this code: running would misread or damage it. */
export class SchemaTooNewError extends Error {
  constructor(
    readonly schema: string,
    readonly stored: number,
    readonly known: number,
  ) {
    super(
      `${schema} storage is at schema version ${stored}, but this code knows versions up to ${known}; ` +
        `refusing to open it (deploy code at least as new as the one that wrote it)`,
    );
    this.name = "SchemaTooNewError";
  }
}

const VERSIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL)`;

/** The newest version a schema defines; throws if its migrations are not numbered 1..n in order. */
export function latestVersion(schema: Schema): number {
  schema.migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`${schema.name} migration #${i + 1} is numbered ${m.version}; migrations must be numbered 1, 2, 3, … in order`);
  });
  return schema.migrations.length;
}

/** The version recorded for `name`, or 0 for a database this module has not touched yet. */
export function storedVersion(sql: SqlStorage, name: string): number {
  sql.exec(VERSIONS_TABLE);
  const row = sql.exec<{ version: number }>(`SELECT version FROM schema_versions WHERE name = ?`, name).toArray()[0];
  return row?.version ?? 0;
}

/**
 * Brings `schema` up to its latest version. Returns the versions applied (empty when it was already
 * current). Throws SchemaTooNewError, changing nothing, when the database is newer than the code;
 * a migration that throws rolls back every migration of this call.
 */
export function migrate(storage: DurableObjectStorage, schema: Schema): number[] {
  const latest = latestVersion(schema);
  return storage.transactionSync(() => {
    const sql = storage.sql;
    const current = storedVersion(sql, schema.name);
    if (current > latest) throw new SchemaTooNewError(schema.name, current, latest);
    const pending = schema.migrations.filter((m) => m.version > current);
    if (pending.length === 0) return [];
    for (const m of pending) m.up(sql);
    sql.exec(`INSERT INTO schema_versions (name, version) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET version = excluded.version`, schema.name, latest);
    return pending.map((m) => m.version);
  });
}
