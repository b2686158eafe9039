// The API server: Express 5 + Apollo Server 5 on one http.Server (graphql-ws shares it for subscriptions).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import type { Agenda } from 'agenda';
import { GraphQLError } from 'graphql';
import type { Config } from './config.js';
import { logger } from './logger.js';
import { appSchema } from './schema/index.js';
import { createContext, type Context } from './schema/context.js';
import { userFromAuthorization } from './schema/auth.js';
import { formatError } from './schema/errors.js';
import { operationLog } from './schema/operation-log.js';
import { applyHttpSecurity, graphqlRequestGuards } from './security/http.js';
import { withClientAddress } from './security/login-limits.js';
import { apolloQueryLimits, operationLimits } from './security/query-limits.js';
import { graphqlIde } from './ide/index.js';
import { startSubscriptionServer } from './live/subscription-server.js';
import { createAgenda } from './jobs/agenda.js';
import { healthRoutes } from './admin/health.js';
import { JOBS_DASHBOARD_PATH, jobsDashboard } from './admin/jobs-dashboard.js';

export interface ApiServer {
  /** http://host:port/graphql */
  url: string;
  port: number;
  httpServer: http.Server;
  /** Stops accepting, lets in-flight requests finish, closes WebSockets. */
  stop(): Promise<void>;
}

export interface ApiServerOptions {
  port?: number;
  host?: string;
  /** The Agenda this process schedules through (never started here): the job dashboard and /readyz use it.
   *  Without one, an instance of its own is made on the open database connection. */
  agenda?: Agenda;
}

export async function startApiServer(c: Config, opts: ApiServerOptions = {}): Promise<ApiServer> {
  const log = logger().child({ component: 'api' });
  const schema = await appSchema();
  const app = express();
  app.disable('x-powered-by');
  applyHttpSecurity(app, c);
  const httpServer = http.createServer(app);

  const format = formatError(c.NODE_ENV === 'production', (err) => log.error({ err }, 'unexpected error in a GraphQL operation'));
  const subscriptions = startSubscriptionServer({ httpServer, schema, config: c, formatError: format, log });

  const apollo = new ApolloServer<Context>({
    schema,
    introspection: true,
    csrfPrevention: true,
    ...apolloQueryLimits(c),
    includeStacktraceInErrorResponses: c.NODE_ENV !== 'production',
    formatError: format,
    // The subscription server drains first: its sockets get their 1001 close before the HTTP drain ends idle sockets.
    // Apollo's default landing page loads Apollo Sandbox from the internet; browsers get src/ide/ instead.
    plugins: [subscriptions, ApolloServerPluginDrainHttpServer({ httpServer }), ApolloServerPluginLandingPageDisabled(), operationLimits(schema, c), operationLog(log)],
  });
  await apollo.start();

  const agenda = opts.agenda ?? createAgenda(c);
  app.use(healthRoutes({ agenda }));
  app.use(JOBS_DASHBOARD_PATH, jobsDashboard({ agenda, config: c, log }));

  app.use('/graphql', graphqlIde());
  app.use(
    '/graphql',
    ...graphqlRequestGuards(c, log),
    expressMiddleware(apollo, {
      context: async ({ req }) => {
        try {
          return withClientAddress(createContext(await userFromAuthorization(req.headers.authorization, c)), req);
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

  let stopping: Promise<void> | undefined;
  return {
    url,
    port: addr.port,
    httpServer,
    stop: () => (stopping ??= apollo.stop()),
  };
}
