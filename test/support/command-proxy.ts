// A counting wire proxy between a process and the database: forwards every byte unchanged and records each
// command a client sends (name, collection, time), read from the MongoDB wire protocol. It counts from outside
// the product, so what it sees is what the database sees, whatever the driver or Mongoose does underneath.
//
// Written by hand: no maintained package parses the wire protocol's command names off a live TCP stream, and
// only the first few bytes of each message are read (the header, the OP_MSG body's first element).
import { startTcpProxy } from './tcp-proxy.js';

export interface WireCommand {
  /** performance.now() when the message arrived at the proxy. */
  at: number;
  /** The command's name as sent (`find`, `insert`, `getMore`, `hello`, …). */
  name: string;
  /** The collection it names, where its first field does (`find: 'reservations'`). */
  collection?: string;
}

/**
 * Commands the driver sends to keep connections and the server topology alive (handshakes, heartbeats, auth,
 * session ends): the same whatever the application does, and not per operation.
 */
const CONNECTION_UPKEEP = new Set(['hello', 'ismaster', 'isMaster', 'saslStart', 'saslContinue', 'endSessions', 'legacy']);

export const isUpkeep = (c: WireCommand) => CONNECTION_UPKEEP.has(c.name);

/**
 * An API server's live feed reading (src/live/feed.ts): its tail's getMore always in flight, and its look for the
 * next number every few quiet seconds — on the feed's own schedule, whatever requests come and go; idle cost,
 * not a request's. (A request never reads live events: its own live event is stored after its response.)
 */
export const isLiveFeedRead = (c: WireCommand) => c.collection === 'liveEvents' && FEED_READS.has(c.name);
const FEED_READS = new Set(['find', 'getMore', 'killCursors']);

export interface CommandProxy {
  /** `targetUri` with its host and port replaced by the proxy's. */
  uri: string;
  /** Every command seen so far, oldest first. */
  commands: WireCommand[];
  /** The application's commands (upkeep left out) that arrived in [from, to). */
  between(from: number, to?: number): WireCommand[];
  /** What a request sent before its response, the request sent at `from` and answered at `to`: the commands
   *  in between, less upkeep and the live feed's reads (isLiveFeedRead). */
  requestPath(from: number, to: number): WireCommand[];
  close(): Promise<void>;
}

const OP_MSG = 2013;
const OP_QUERY = 2004;
const OP_COMPRESSED = 2012;

/** Reads the command name and collection from one client message (a complete wire message in `msg`). */
function commandOf(msg: Buffer, at: number): WireCommand | undefined {
  const opCode = msg.readInt32LE(12);
  if (opCode === OP_QUERY) return { at, name: 'legacy' }; // only the driver's first handshake uses OP_QUERY
  if (opCode === OP_COMPRESSED) return { at, name: 'compressed' };
  if (opCode !== OP_MSG || msg.length < 27) return undefined;
  // header (16) · flagBits (4) · section kind (1) · BSON body: length (4) · first element type (1) · name (cstring)
  let offset = 20;
  if (msg[offset] !== 0) return { at, name: 'sequence' };
  offset += 1 + 4;
  const type = msg[offset]!;
  const end = msg.indexOf(0, offset + 1);
  const name = msg.toString('utf8', offset + 1, end);
  let collection: string | undefined;
  if (type === 0x02) {
    const len = msg.readInt32LE(end + 1);
    collection = msg.toString('utf8', end + 5, end + 5 + len - 1);
  } else if (name === 'getMore') {
    collection = stringField(msg, offset, 'collection');
  }
  return { at, name, ...(collection ? { collection } : {}) };
}

/** Fixed sizes of the BSON element types a command's top level holds, beside strings and documents. */
const FIXED: Record<number, number> = { 0x01: 8, 0x07: 12, 0x08: 1, 0x09: 8, 0x0a: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16 };

/** The string field `field` of the top-level BSON document whose first element starts at `offset`. */
function stringField(msg: Buffer, offset: number, field: string): string | undefined {
  while (offset < msg.length && msg[offset] !== 0) {
    const type = msg[offset]!;
    const end = msg.indexOf(0, offset + 1);
    const key = msg.toString('utf8', offset + 1, end);
    let size: number;
    if (type === 0x02) {
      const len = msg.readInt32LE(end + 1);
      if (key === field) return msg.toString('utf8', end + 5, end + 5 + len - 1);
      size = 4 + len;
    } else if (type === 0x03 || type === 0x04) size = msg.readInt32LE(end + 1);
    else if (type === 0x05) size = 4 + 1 + msg.readInt32LE(end + 1);
    else if (type in FIXED) size = FIXED[type]!;
    else return undefined;
    offset = end + 1 + size;
  }
  return undefined;
}

export async function startCommandProxy(targetUri: string): Promise<CommandProxy> {
  const commands: WireCommand[] = [];
  // Each client connection's bytes, cut into wire messages (a message may span chunks, a chunk hold several).
  const readClient = () => {
    let pending: Buffer = Buffer.alloc(0);
    return (chunk: Buffer) => {
      const at = performance.now();
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 16) {
        const length = pending.readInt32LE(0);
        if (pending.length < length) break;
        const command = commandOf(pending.subarray(0, length), at);
        if (command) commands.push(command);
        pending = pending.subarray(length);
      }
    };
  };
  const proxy = await startTcpProxy(targetUri, { readClient });
  return {
    uri: proxy.uri,
    commands,
    between: (from, to = Infinity) => commands.filter((c) => c.at >= from && c.at < to && !isUpkeep(c)),
    requestPath: (from, to) => commands.filter((c) => c.at >= from && c.at < to && !isUpkeep(c) && !isLiveFeedRead(c)),
    close: proxy.close,
  };
}

/** `find reservations ×2, insert statusclaims` — commands by name and collection, most frequent first. */
export function describeCommands(commands: WireCommand[], per = 1): string {
  const counts = new Map<string, number>();
  for (const c of commands) {
    const key = c.collection ? `${c.name} ${c.collection}` : c.name;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => (n / per === 1 ? k : `${k} ×${Number((n / per).toPrecision(2))}`))
    .join(', ');
}

/** CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat (Linux). */
export async function processCpuMs(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The name (field 2) may hold spaces and parentheses: count fields from after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime: fields 14 and 15
  return (ticks * 1000) / CLOCK_TICKS_PER_S;
}

/** USER_HZ: 100 on every Linux the project runs on (getconf CLK_TCK). */
const CLOCK_TICKS_PER_S = 100;
