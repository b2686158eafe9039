// Health probes of real processes: /healthz (alive) and /readyz (can work now) on the API server and on a worker.
import { pollUntil } from './support/poll.js';
import { startApiProcess, startWorkerProcess, stopProcess, type Proc } from './support/processes.js';
import { baseEnv, freshDatabaseUri } from './support/stack.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

async function probe(url: string) {
  const started = Date.now();
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.json(), ms: Date.now() - started };
}

describe('the API server', () => {
  let proxy: TcpProxy;
  let api: Proc & { url: string };
  let origin: string;

  beforeAll(async () => {
    // Its database behind a proxy the test can cut.
    proxy = await startTcpProxy(freshDatabaseUri('health'));
    api = await startApiProcess(baseEnv(proxy.uri));
    origin = new URL(api.url).origin;
  });
  afterAll(async () => {
    await stopProcess(api);
    await proxy?.close();
  });

  test('/healthz says it is alive, /readyz that the database and Agenda are ready', async () => {
    expect(await probe(`${origin}/healthz`)).toMatchObject({ status: 200, type: expect.stringMatching(/^application\/json/), body: { status: 'ok' } });
    expect(await probe(`${origin}/readyz`)).toMatchObject({
      status: 200,
      type: expect.stringMatching(/^application\/json/),
      body: { status: 'ready', database: 'up', agenda: 'ready' },
    });
  });

  test('without its database it stays alive but is not ready, answering within a probe timeout; then recovers', async () => {
    proxy.cut();
    try {
      const down = await probe(`${origin}/readyz`);
      expect(down).toMatchObject({ status: 503, body: { status: 'not ready', database: 'down', agenda: 'ready' } });
      expect(down.ms).toBeLessThan(2_500);
      expect(await probe(`${origin}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    } finally {
      proxy.restore();
    }
    await pollUntil(() => probe(`${origin}/readyz`), (r) => r.status === 200, 'the API to be ready again', 20_000);
    expect(api.child.exitCode).toBeNull();
  });
});

describe('a worker', () => {
  let worker: Proc;
  let origin: string;

  beforeAll(async () => {
    worker = await startWorkerProcess(baseEnv(freshDatabaseUri('healthw'), { COMPLETION_SWEEP_INTERVAL: '1 hour' }));
    const ready = JSON.parse(await worker.waitForLine(/worker ready/)) as { healthPort: number };
    origin = `http://127.0.0.1:${ready.healthPort}`;
  });
  afterAll(() => stopProcess(worker));

  test('/healthz says it is alive, /readyz that it is ready, on WORKER_HEALTH_PORT', async () => {
    expect(await probe(`${origin}/healthz`)).toMatchObject({ status: 200, type: 'application/json', body: { status: 'ok' } });
    expect(await probe(`${origin}/readyz`)).toMatchObject({ status: 200, type: 'application/json', body: { status: 'ready' } });
    expect((await fetch(`${origin}/other`)).status).toBe(404);
  });
});
