// A baseline for `cost` (bench/cost.ts), run as its own process: the CPU one database command costs a Node
// process on this machine when nothing else is in the way — the MongoDB driver alone (no Mongoose, no HTTP, no
// GraphQL), one small insert at a time, awaited in turn, as the product's request path sends them. Prints one JSON
// line: { commands, cpuMsPerCommand }.
import { MongoClient } from 'mongodb';

const [uri, countArg] = process.argv.slice(2);
const count = Number(countArg);
const client = await MongoClient.connect(uri!, { maxPoolSize: 1 });
const coll = client.db().collection('driverFloor');
// A warm-up the size of the measured run: the JIT and the connection as warm as the API server's after its own.
for (let i = 0; i < count; i++) await coll.insertOne({ n: i, at: new Date(), note: 'warm-up' });
const from = process.cpuUsage();
for (let i = 0; i < count; i++) await coll.insertOne({ n: i, at: new Date(), note: 'measured' });
const used = process.cpuUsage(from);
await coll.drop().catch(() => {});
await client.close();
process.stdout.write(`${JSON.stringify({ commands: count, cpuMsPerCommand: (used.user + used.system) / 1000 / count })}\n`);
