import mongoose from 'mongoose';

export interface ConnectOptions {
  /** Overrides the database named in the URI (tests give each suite its own). */
  dbName?: string;
  maxPoolSize?: number;
}

/**
 * Connects the default Mongoose connection. Options stay inside what both MongoDB and FerretDB 1.24 accept:
 * no transactions, and retryable writes only where the server offers them (the driver decides).
 */
export async function connectDatabase(uri: string, opts: ConnectOptions = {}): Promise<typeof mongoose> {
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
  ferretDb = typeof info.ferretdbVersion === 'string';
  return connected;
}

let ferretDb = false;

/** Whether the connected server is FerretDB (its buildInfo, read once at connect). */
export function isFerretDb(): boolean {
  return ferretDb;
}

/**
 * How many update statements one command may carry. FerretDB 1.24 keeps a backend connection open for every
 * statement of an `update` command until the whole command ends (handler/msg_update.go defers each statement's
 * iterator close to the end of the loop), and needs one more to write. Its pools are 100 connections (SQLite)
 * and 50 (PostgreSQL), shared by every client: one command of 100 statements, or two of 30 at once on
 * PostgreSQL, wait forever for a connection and wedge the server for everyone (measured). Small commands keep
 * every process's writes together far below that; each statement costs FerretDB a query of its own anyway, so
 * splitting costs nothing there. MongoDB takes any size.
 */
export function updatesPerCommand(): number {
  return ferretDb ? 8 : 1000;
}

export async function disconnectDatabase(): Promise<void> {
  await mongoose.disconnect();
}
