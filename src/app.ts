// The API server: Express 5 + Apollo Server 5 on one http.Server (graphql-ws shares it for subscriptions).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { GraphQLError } from 'graphql';
import type { Hub } from './live/hub.js';
import type { LiveChange } from './live/channel.js';
import { buildAppSchema } from './schema/index.js';
import { afterResponseOf, createContext, createSharedViews, type ApiServices, type Context } from './schema/context.js';
import { userFromAuthorization } from './schema/auth.js';
import { formatError } from './schema/errors.js';
import { operationLog } from './schema/operation-log.js';
import { applyHttpSecurity, graphqlRequestGuards } from './security/http.js';
import { addressKey, createLoginLimiter } from './security/login-limits.js';
import { apolloQueryLimits, operationLimits } from './security/query-limits.js';
import { apolloSchemaExposure, hidesSchemaDetails, introspectionPolicy } from './security/introspection.js';
import { createSignUpLimiter } from './security/signup-limits.js';
import { graphqlIde } from './ide/index.js';
import { startSubscriptionServer } from './live/subscription-server.js';
import { healthRoutes } from './admin/health.js';
import { jobEventsFeed } from './admin/job-events.js';
import { JOBS_DASHBOARD_PATH, jobsDashboard } from './admin/jobs-dashboard.js';
import { MANAGE_PATH, manageRoutes } from './manage/routes.js';
import type { Services } from './services.js';

export interface ApiServer {
  /** http://host:port/graphql */
  url: string;
  port: number;
  httpServer: http.Server;
  /** Stops accepting, lets in-flight requests finish, closes WebSockets. */
  stop(): Promise<void>;
}

export interface ApiServerOptions {
  /** The process's services: its config, the status pipeline, the Agenda it schedules through (the job dashboard
   *  and /readyz read it too). */
  services: Services;
  /** The hub the live channel feeds (live/channel.ts): what subscriptions read. */
  hub: Hub<LiveChange>;
  port?: number;
  host?: string;
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const { services } = opts;
  const c = services.config;
  const log = services.log.child({ component: 'api' });
  const schema = await buildAppSchema(opts.hub);
  const api: ApiServices = {
    config: c,
    status: services.status,
    loginLimiter: createLoginLimiter(c),
    signUpLimiter: createSignUpLimiter(c),
    views: createSharedViews(),
    agenda: services.agenda,
  };
  const app = express();
  app.disable('x-powered-by');
  applyHttpSecurity(app, c);
  const httpServer = http.createServer(app);

  const format = formatError(c.NODE_ENV === 'production', (err) => log.error({ err }, 'unexpected error in a GraphQL operation'), {
    hideSchemaDetails: hidesSchemaDetails(c),
  });
  const subscriptions = startSubscriptionServer({ httpServer, schema, services: api, formatError: format, log });

  const apollo = new ApolloServer<Context>({
    schema,
    ...apolloSchemaExposure(c),
    csrfPrevention: true,
    ...apolloQueryLimits(c),
    includeStacktraceInErrorResponses: c.NODE_ENV !== 'production',
    formatError: format,
    // The subscription server drains first: its sockets get their 1001 close before the HTTP drain ends idle sockets.
    // Apollo's default landing page loads Apollo Sandbox from the internet; browsers get src/ide/ instead.
    // Cache control off: nothing here sets cache hints (no response is cacheable: every one depends on who asks),
    // and Apollo's default plugin wraps every field of every response to compute them (bench `cost`).
    plugins: [
      subscriptions,
      ApolloServerPluginDrainHttpServer({ httpServer }),
      ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginCacheControlDisabled(),
      introspectionPolicy(schema, c),
      operationLimits(schema, c),
      operationLog(log),
    ],
  });
  await apollo.start();

  let stopping: Promise<void> | undefined;
  const { agenda } = services;
  app.use(healthRoutes({ agenda, isShuttingDown: () => stopping !== undefined }));
  const jobEvents = jobEventsFeed(log);
  app.use(JOBS_DASHBOARD_PATH, jobsDashboard({ agenda, config: c, log, loginLimiter: api.loginLimiter, events: jobEvents.handler }));

  // Customers' self-service from the link in their emails (src/manage/): a page, not part of the GraphQL API.
  app.use(MANAGE_PATH, manageRoutes({ config: c, status: services.status, clock: services.clock, log: log.child({ component: 'manage' }) }));

  app.use('/graphql', graphqlIde());
  app.use(
    '/graphql',
    ...graphqlRequestGuards(c, log),
    expressMiddleware(apollo, {
      context: async ({ req, res }) => {
        try {
          return createContext(await userFromAuthorization(req.headers.authorization, c), api, {
            clientAddress: addressKey(req.ip),
            afterResponse: afterResponseOf(res),
          });
        } catch (err) {
          // A bad token is the client's problem: 401, not Apollo's default 500 for context failures.
          if (err instanceof GraphQLError) {
            throw new GraphQLError(err.message, { extensions: { ...err.extensions, http: { status: 401 } } });
          }
          throw err;
        }
      },
    }),
  );

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(opts.port ?? c.PORT, opts.host ?? c.HOST, () => resolve());
  });
  const addr = httpServer.address() as AddressInfo;
  const host = addr.address === '0.0.0.0' || addr.address === '::' ? 'localhost' : addr.address;
  const url = `http://${host}:${addr.port}/graphql`;

  return {
    url,
    port: addr.port,
    httpServer,
    // The dashboard's event streams never end by themselves: ended first, so the HTTP drain need not wait for them.
    stop: () => (stopping ??= (jobEvents.close(), apollo.stop())),
  };
}
