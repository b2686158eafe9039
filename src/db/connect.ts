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
  return mongoose.connect(uri, {
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
}

export async function disconnectDatabase(): Promise<void> {
  await mongoose.disconnect();
}
