// `api-create`: `createReservation` over HTTP with autocannon, 32 connections, 10 s, against the real API server
// process (`dist/src/server.js`, production settings, its log at info as deployed).
//
//   project            the mutation end to end: auth, validation, the creation claim, the insert, the admin
//                      email job and the live event
//   raw-driver-writes  the same reservation documents inserted with the driver by 32 concurrent writers for the
//                      same time: the floor
//   raw-feature-writes what the feature needs written, by 32 concurrent writers: the reservation, its admin-email
//                      job and its live event, as three inserts (into collections of their own, so the API
//                      server's live feed does not read them): the floor the issue (#14) compares the project with
//
// Each repetition starts from the same state (the reservations, claims, jobs and live events of the one before
// are deleted), after a warm-up.
import { MongoClient } from 'mongodb';
import { Types } from 'mongoose';
import autocannon from 'autocannon';
import type { Benchmark } from './support/harness.js';
import { median, percentile, serviceEnv, sig } from './support/harness.js';
import { anotherLike, pendingReservation } from '../test/support/fixtures.js';
import { signUp } from '../test/support/graphql.js';
import { startApiProcess, stopProcess } from '../test/support/processes.js';

const CONNECTIONS = 32;
const CREATE = `mutation($input: CreateReservationInput!) { createReservation(input: $input) { id reference status } }`;
/** What the API writes per reservation, beside the users: cleared between repetitions. */
const WRITTEN = ['reservations', 'statusclaims', 'agendaJobs', 'liveEvents', 'rawJobs', 'rawLiveEvents'];

interface Run {
  reqPerS: number;
  p50: number;
  p99: number;
  count: number;
}

export const apiCreate: Benchmark = {
  name: 'api-create',
  async run(ctx) {
    const seconds = ctx.options.smoke ? 1 : 10;
    const warmupSeconds = ctx.options.smoke ? 0.5 : 2;
    const repetitions = ctx.options.smoke ? 1 : 3;
    const uri = ctx.freshDatabaseUri('apicreate');
    const client = await MongoClient.connect(uri, { maxPoolSize: CONNECTIONS });
    const db = client.db();
    // It logs every request: its newest lines are enough.
    const api = await startApiProcess(serviceEnv(uri), { keepLines: 5000 });
    try {
      const customer = await signUp(api.url);
      const startTime = new Date(Date.now() + 2 * 86_400_000);
      const body = JSON.stringify({ query: CREATE, variables: { input: { startTime: startTime.toISOString(), partySize: 2 } } });
      const clear = async () => {
        for (const name of WRITTEN) await db.collection(name).deleteMany({});
      };

      const project = async (duration: number): Promise<Run> => {
        await clear();
        const r = await autocannon({
          url: api.url,
          connections: CONNECTIONS,
          duration,
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${customer.token}` },
          body,
        });
        // A GraphQL error is still HTTP 200: count what was really created.
        const created = await db.collection('reservations').countDocuments({});
        if (r.non2xx > 0 || r.errors > 0 || created < r['2xx'] * 0.98) {
          throw new Error(`api-create: ${r['2xx']} answered 2xx, ${r.non2xx} not, ${r.errors} errors, ${created} reservations created`);
        }
        return { reqPerS: r['2xx'] / (r.duration || duration), p50: r.latency.p50, p99: r.latency.p99, count: r['2xx'] };
      };

      const raw = async (duration: number, feature = false): Promise<Run> => {
        await clear();
        const reservations = db.collection('reservations');
        const jobs = db.collection('rawJobs');
        const live = db.collection('rawLiveEvents');
        // One document as the API would store it; each writer inserts copies of it with their own ids.
        const pending = await pendingReservation({ customer: new Types.ObjectId(customer.id), startTime });
        const latencies: number[] = [];
        const started = performance.now();
        const until = started + duration * 1000;
        await Promise.all(
          Array.from({ length: CONNECTIONS }, async () => {
            while (performance.now() < until) {
              const t = performance.now();
              const doc = anotherLike(pending);
              await reservations.insertOne(doc);
              if (feature) {
                const [event] = doc.history;
                const data = { reservationId: doc._id.toHexString(), eventId: event!._id.toHexString(), kind: 'new-reservation-admin' };
                await jobs.insertOne({ name: 'send-new-reservation-admin-notification', data, priority: 0, nextRunAt: new Date(), type: 'normal' });
                await live.insertOne({ _id: new Types.ObjectId(), reservationId: doc._id, customerId: doc.customer, event });
              }
              latencies.push(performance.now() - t);
            }
          }),
        );
        const elapsed = (performance.now() - started) / 1000;
        return { reqPerS: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), count: latencies.length };
      };

      await project(warmupSeconds);
      await raw(warmupSeconds);
      const variants = { project, 'raw-driver-writes': (d: number) => raw(d), 'raw-feature-writes': (d: number) => raw(d, true) };
      const runs: Record<string, Run[]> = { project: [], 'raw-driver-writes': [], 'raw-feature-writes': [] };
      for (let rep = 0; rep < repetitions; rep++) {
        const names = Object.keys(variants) as (keyof typeof variants)[];
        const order = rep % 2 === 0 ? names : [...names].reverse();
        for (const variant of order) {
          const r = await variants[variant](seconds);
          ctx.log(`api-create ${variant} #${rep + 1}: ${r.reqPerS.toFixed(0)} req/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms`);
          runs[variant]!.push(r);
        }
      }
      for (const [variant, rs] of Object.entries(runs)) {
        const params = { connections: CONNECTIONS, seconds, repetitions, requests: rs.map((r) => r.count) };
        ctx.record({ benchmark: 'api-create', variant, metric: 'req_per_s', value: sig(median(rs.map((r) => r.reqPerS))), params });
        ctx.record({ benchmark: 'api-create', variant, metric: 'p50_ms', value: sig(median(rs.map((r) => r.p50))), params });
        ctx.record({ benchmark: 'api-create', variant, metric: 'p99_ms', value: sig(median(rs.map((r) => r.p99))), params });
      }
      ctx.compare({ benchmark: 'api-create', metric: 'req_per_s', variant: 'project', baseline: 'raw-driver-writes', goal: '≥ 0.5×', atLeast: 0.5 });
      ctx.compare({ benchmark: 'api-create', metric: 'req_per_s', variant: 'project', baseline: 'raw-feature-writes', goal: '≥ 0.5×', atLeast: 0.5 });
      ctx.goal({ benchmark: 'api-create', variant: 'project', metric: 'p99_ms', goal: '< 500 ms', below: 500 });
    } finally {
      await stopProcess(api);
      await db.dropDatabase().catch(() => {});
      await client.close();
    }
  },
};
