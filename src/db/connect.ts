// Connecting, and what differs between MongoDB and FerretDB: detected once per connection and handed to whoever
// writes (src/db/writes.ts), never kept in a global.
import mongoose from 'mongoose';

export interface ConnectOptions {
  /** Overrides the database named in the URI (tests give each suite its own). */
  dbName?: string;
  maxPoolSize?: number;
}

/** What the connected server can take, as far as this application cares. */
export interface DatabaseCapabilities {
  /** `ferretdb` when the server reports a `ferretdbVersion` in its buildInfo (FerretDB 1.24 on SQLite or PostgreSQL). */
  server: 'mongodb' | 'ferretdb';
  /**
   * How many update statements one command may carry. FerretDB 1.24 keeps a backend connection open for every
   * statement of an `update` command until the whole command ends (handler/msg_update.go defers each statement's
   * iterator close to the end of the loop), and needs one more to write. Its pools are 100 connections (SQLite)
   * and 50 (PostgreSQL), shared by every client: one command of 100 statements, or two of 30 at once on
   * PostgreSQL, wait forever for a connection and wedge the server for everyone (measured). Small commands keep
   * every process's writes together far below that; each statement costs FerretDB a query of its own anyway, so
   * splitting costs nothing there. MongoDB takes any size.
   */
  updatesPerCommand: number;
  /**
   * Whether a tailable `awaitData` cursor waits for inserts at no cost while nothing happens. MongoDB: yes, the
   * insert wakes it. FerretDB 1.24: no — its getMore re-runs the cursor's query every 10 ms and walks it to its last
   * record (handler/msg_getmore.go `awaitData`, clientconn/cursor `Reset`): one idle tailing feed cost FerretDB
   * 51 ms of CPU per second over one retained event and 471 ms/s over 200 (measured), and on SQLite other commands
   * meanwhile failed with "interrupted" and "database is locked". There the live feed polls instead (live/feed.ts).
   */
  tailableCursors: boolean;
  /**
   * Whether Agenda's lock query (a findAndModify per job name per poll) is an index lookup. MongoDB: yes. FerretDB
   * 1.24: no, it reads every job document (SQLite) or every job of the name (PostgreSQL) and filters them in Go;
   * there a poll first asks which names have a due job at all (src/jobs/due-names.ts).
   */
  indexedJobLocks: boolean;
}

export interface Database {
  connection: mongoose.Connection;
  capabilities: DatabaseCapabilities;
}

/**
 * Connects the default Mongoose connection (the one the models are registered on). Options stay inside what both
 * MongoDB and FerretDB 1.24 accept: no transactions, and retryable writes only where the server offers them.
 */
export async function connectDatabase(uri: string, opts: ConnectOptions = {}): Promise<Database> {
  mongoose.set('strictQuery', true);
  const connected = await mongoose.connect(uri, {
    ...(opts.dbName ? { dbName: opts.dbName } : {}),
    // While the database is down, fail requests within seconds (SERVICE_UNAVAILABLE) rather than queue them
    // in Mongoose's buffer: clients can retry, and a stalled API server helps nobody.
    bufferCommands: false,
    serverSelectionTimeoutMS: 3000,
    connectTimeoutMS: 10_000,
    socketTimeoutMS: 60_000,
    maxPoolSize: opts.maxPoolSize ?? 20,
    minPoolSize: 0,
    // Collections and indexes are created from the schemas at start-up, so a fresh database works at once.
    autoCreate: true,
    autoIndex: true,
  });
  const info = await connected.connection.db!.admin().command({ buildInfo: 1 });
  return { connection: connected.connection, capabilities: capabilitiesOf(info) };
}

export function capabilitiesOf(buildInfo: Record<string, unknown>): DatabaseCapabilities {
  const ferretdb = typeof buildInfo.ferretdbVersion === 'string';
  return { server: ferretdb ? 'ferretdb' : 'mongodb', updatesPerCommand: ferretdb ? 8 : 1000, tailableCursors: !ferretdb, indexedJobLocks: !ferretdb };
}

export async function disconnectDatabase(): Promise<void> {
  await mongoose.disconnect();
}
