// The writes whose behaviour differs between MongoDB and FerretDB 1.24, said once.
//
// FerretDB 1.24 does not apply an update's filter and its write atomically: it reads the matching documents,
// updates them in its own process and writes whole documents back (internal/backends/sqlite/collection.go). Five
// concurrent `findOneAndUpdate({_id, status: 'PENDING'}, …)` calls all "win" there and overwrite each other, and
// 400 concurrent `$inc`s left a counter at 17 (both measured). What both servers do enforce atomically is a
// unique key on insert. So wherever exactly one of several contenders must win — a status change, an email
// attempt, a job, a live event's number — the contenders insert a document with the same `_id`, and the
// duplicate-key error tells the losers. Domain code says "insert once"; this file knows why that is the lock.
import type mongoose from 'mongoose';
import type { DatabaseCapabilities } from './connect.js';

type Collection = mongoose.mongo.Collection<any>;
type AnyBulkWriteOperation = mongoose.mongo.AnyBulkWriteOperation<any>;

const DUPLICATE_KEY = 11000;

interface WriteErrorShape {
  code?: unknown;
  index?: number;
}

/** The write errors of a failed (bulk) write; one-document writes report theirs on the error itself. */
function writeErrorsOf(err: unknown): WriteErrorShape[] {
  const e = err as { writeErrors?: WriteErrorShape[] | WriteErrorShape };
  if (Array.isArray(e?.writeErrors)) return e.writeErrors;
  return e?.writeErrors ? [e.writeErrors] : [];
}

/** Whether `err` is a duplicate key and nothing else: every one of its write errors, or the error itself. */
export function isDuplicateKey(err: unknown): boolean {
  const errors = writeErrorsOf(err);
  if (errors.length > 0) return errors.every((w) => w.code === DUPLICATE_KEY);
  return (err as { code?: unknown })?.code === DUPLICATE_KEY;
}

/** Inserts `doc` unless a document with its `_id` (or another unique key) exists; whether this call inserted it. */
export async function insertOnce(collection: Collection, doc: object): Promise<boolean> {
  try {
    await collection.insertOne(doc as never);
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
}

/** Inserts each of `docs` unless it exists (one command, unordered); the ones this call inserted, in order. */
export async function insertEachOnce<T extends object>(collection: Collection, docs: T[]): Promise<T[]> {
  if (docs.length === 0) return [];
  try {
    await collection.insertMany(docs as never[], { ordered: false });
    return docs;
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const errors = writeErrorsOf(err);
    // A single-document insertMany may report its duplicate without writeErrors: then that one document lost.
    const lost = new Set(errors.length ? errors.map((w) => w.index ?? 0) : [0]);
    return docs.filter((_, i) => !lost.has(i));
  }
}

/**
 * Inserts `docs` in order, stopping at the first that exists; how many were inserted before it (all of them when
 * none existed). For numbered sequences: what was stored stays gap-free.
 */
export async function insertInOrderUntilDuplicate(collection: Collection, docs: object[]): Promise<number> {
  try {
    await collection.insertMany(docs as never[], { ordered: true });
    return docs.length;
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const first = writeErrorsOf(err)[0];
    return first?.index ?? (err as { insertedCount?: number }).insertedCount ?? 0;
  }
}

/** Applies update operations in commands of at most as many statements as the server takes at once. */
export async function bulkUpdate(
  collection: Collection,
  operations: AnyBulkWriteOperation[],
  capabilities: DatabaseCapabilities,
): Promise<void> {
  const size = capabilities.updatesPerCommand;
  for (let i = 0; i < operations.length; i += size) {
    await collection.bulkWrite(operations.slice(i, i + size), { ordered: false });
  }
}
