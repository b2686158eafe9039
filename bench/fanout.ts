// `fanout`: 1,000 graphql-ws subscribers (admin dashboards, `reservationStatusChanged` without an id) on one API
// server process; an admin confirms one reservation over HTTP. Measured, p50 and p99 over the 1,000 deliveries of
// each change, median over several changes:
//   p50_ms, p99_ms                           from the mutation's response reaching its client to each delivery.
//                                            ≤ 0 when subscribers have the change before the mutating client has
//                                            its answer (the server publishes before it answers)
//   p50_from_request_ms, p99_from_request_ms from the mutation's request leaving its client: end to end
//   mutation_ms                              the mutation's own round trip
// The subscribers are real WebSocket connections in this process; each delivery is timed when it arrives.
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { Benchmark } from './support/harness.js';
import { dropDatabase, median, percentile, serviceEnv, sig } from './support/harness.js';
import { createAdmin, gqlData, signUp } from '../test/support/graphql.js';
import { pollUntil, sleep } from '../test/support/poll.js';
import { startApiProcess, stopProcess } from '../test/support/processes.js';

/** What a dashboard shows of each change. */
const STATUS_CHANGED = `subscription {
  reservationStatusChanged {
    reservation { id reference status startTime partySize customer { id displayName email } }
    event { id from to at actor reason }
  }
}`;
const CREATE = `mutation($input: CreateReservationInput!) { createReservation(input: $input) { id } }`;
const CONFIRM = `mutation($id: ID!) { confirmReservation(id: $id) { id status history { id } } }`;

interface Delivery {
  eventId: string;
  at: number;
}

export const fanout: Benchmark = {
  name: 'fanout',
  async run(ctx) {
    const subscribers = ctx.options.smoke ? 50 : 1000;
    const changes = ctx.options.smoke ? 2 : 9;
    const uri = ctx.freshDatabaseUri('fanout');
    const api = await startApiProcess(serviceEnv(uri), { keepLines: 5000 });
    const clients: Client[] = [];
    try {
      const admin = await createAdmin(api.url, { mongoUri: uri });
      const customer = await signUp(api.url, { firstName: 'Bench', lastName: 'Guest' });
      const startTime = new Date(Date.now() + 2 * 86_400_000).toISOString();
      const create = async () =>
        (await gqlData(api.url, CREATE, { input: { startTime, partySize: 2 } }, customer.token)).createReservation.id as string;
      // The reservations to confirm, created before anyone listens.
      const pending: string[] = [];
      for (let i = 0; i < changes; i++) pending.push(await create());

      // Connect in slices: the server verifies each token; nothing here is measured.
      const received: Delivery[][] = [];
      for (let i = 0; i < subscribers; i += 100) {
        await Promise.all(
          Array.from({ length: Math.min(100, subscribers - i) }, async () => {
            const deliveries: Delivery[] = [];
            received.push(deliveries);
            const client = await connect(api.url, admin.token);
            clients.push(client);
            client.subscribe<{ reservationStatusChanged: { event: { id: string } } }>(
              { query: STATUS_CHANGED },
              {
                next: (r) => {
                  const at = performance.now();
                  if (r.data) deliveries.push({ eventId: r.data.reservationStatusChanged.event.id, at });
                },
                error: (err) => ctx.log(`fanout: a subscription failed: ${JSON.stringify(err)}`),
                complete: () => {},
              },
            );
          }),
        );
      }
      // Subscribing is unacknowledged in graphql-ws: changes until every subscriber has received one (the warm-up).
      for (let attempt = 0; ; attempt++) {
        await create();
        try {
          await pollUntil(async () => received.filter((d) => d.length > 0).length, (n) => n === subscribers, 'every subscriber', 5000, 25);
          break;
        } catch (err) {
          if (attempt === 5) throw err;
        }
      }
      await sleep(500);

      const p50s: number[] = [];
      const p99s: number[] = [];
      const fromRequest: { p50: number[]; p99: number[] } = { p50: [], p99: [] };
      const mutationMs: number[] = [];
      const maxes: number[] = [];
      for (const id of pending) {
        const before = received.map((d) => d.length);
        const sent = performance.now();
        const r = await gqlData(api.url, CONFIRM, { id }, admin.token);
        const answered = performance.now();
        mutationMs.push(answered - sent);
        const eventId = r.confirmReservation.history.at(-1).id as string;
        const find = () => received.map((d, i) => d.slice(before[i]).find((x) => x.eventId === eventId));
        await pollUntil(async () => find().filter(Boolean).length, (n) => n === subscribers, `the change on all ${subscribers} subscribers`, 15_000, 5);
        const arrivals = find().map((x) => x!.at);
        const latencies = arrivals.map((at) => at - answered);
        p50s.push(percentile(latencies, 50));
        p99s.push(percentile(latencies, 99));
        maxes.push(Math.max(...latencies));
        fromRequest.p50.push(percentile(arrivals, 50) - sent);
        fromRequest.p99.push(percentile(arrivals, 99) - sent);
        ctx.log(
          `fanout change: mutation ${mutationMs.at(-1)!.toFixed(1)} ms; after its response p50 ${p50s.at(-1)!.toFixed(1)} ms, ` +
            `p99 ${p99s.at(-1)!.toFixed(1)} ms; after its request p50 ${fromRequest.p50.at(-1)!.toFixed(1)} ms, p99 ${fromRequest.p99.at(-1)!.toFixed(1)} ms`,
        );
        // A random pause: changes at a fixed period would always meet the feed's poll at the same phase.
        await sleep(150 + Math.random() * 300);
      }
      const params = { subscribers, changes, p99sMs: p99s.map((v) => sig(v)), maxMs: sig(median(maxes)) };
      const row = (metric: string, value: number) => ctx.record({ benchmark: 'fanout', variant: 'project', metric, value: sig(value), params });
      row('p50_ms', median(p50s));
      row('p99_ms', median(p99s));
      row('p50_from_request_ms', median(fromRequest.p50));
      row('p99_from_request_ms', median(fromRequest.p99));
      row('mutation_ms', median(mutationMs));
      ctx.goal({ benchmark: 'fanout', variant: 'project', metric: 'p99_ms', goal: '< 100 ms', below: 100 });
    } finally {
      await Promise.all(clients.map((c) => c.dispose()));
      await stopProcess(api);
      await dropDatabase(uri);
    }
  },
};

function connect(url: string, token: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = createClient({
      url: url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: reject,
      on: { connected: () => resolve(client) },
    });
  });
}
