// GraphQL over WebSocket (graphql-ws) on the API's http.Server, at the same path as HTTP. A connection is
// authenticated when it opens, from its connection params `{ authorization: "Bearer <token>" }`; without a valid
// token it is refused with 4403 Forbidden, graphql-ws's code for a refused connection (its clients may retry,
// e.g. with a refreshed token). Once open, it is closed with 4401 when its token expires and with 4403 when its
// user is deleted or demoted (connection-auth.ts). At shutdown every socket is closed with 1001 Going Away.
//
// Subscriptions only: queries and mutations go to POST /graphql, where the request guards (login limits,
// complexity) apply. Documents get the same parse and validation limits as over HTTP.
import type http from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import {
  GraphQLError,
  getOperationAST,
  getVariableValues,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { userFromAuthorization } from '../schema/auth.js';
import { createContext, type ApiServices } from '../schema/context.js';
import { createConnectionAuth, type AuthorizedConnection } from './connection-auth.js';
import { apolloQueryLimits } from '../security/query-limits.js';

export interface SubscriptionServerOptions {
  httpServer: http.Server;
  schema: GraphQLSchema;
  services: ApiServices;
  /** The HTTP endpoint's error formatting, so both transports show clients the same errors. */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  log: Logger;
  path?: string;
}

/** Messages are small GraphQL documents: the same limit as HTTP bodies, not ws's 100 MiB default. */
const MAX_MESSAGE_BYTES = 100 * 1024;
/** At shutdown, sockets whose clients do not answer the close within this are cut. */
const CLOSE_GRACE_MS = 2000;

/** Starts accepting subscriptions; returns the Apollo plugin that closes them when Apollo drains. */
export function startSubscriptionServer(opts: SubscriptionServerOptions): ApolloServerPlugin {
  const { services, formatError, log, schema } = opts;
  const config = services.config;
  const limits = apolloQueryLimits(config);
  const rules = [...specifiedRules, ...(limits.validationRules ?? [])];
  const auth = createConnectionAuth(config, log);
  const wss = new WebSocketServer({ server: opts.httpServer, path: opts.path ?? '/graphql', maxPayload: MAX_MESSAGE_BYTES });
  const server = useServer<Record<string, unknown> | undefined, { connection?: AuthorizedConnection }>(
    {
      schema,
      isProd: config.NODE_ENV === 'production',
      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        const authorization = params.authorization ?? params.Authorization;
        try {
          const user = await userFromAuthorization(authorization, config);
          if (!user) {
            log.debug('refused a WebSocket connection without a token');
            return false;
          }
          ctx.extra.connection = auth.watch(ctx.extra.socket, authorization as string, user);
          return true;
        } catch (err) {
          log.debug({ reason: (err as Error).message }, 'refused a WebSocket connection with a bad token');
          return false;
        }
      },
      // Apollo's request pipeline, for this transport: parse, validate, check variables, each failure with the
      // code Apollo gives it (formatError treats an error without a code as internal).
      onSubscribe: (_ctx, _id, payload) => {
        let document: DocumentNode;
        try {
          document = parse(payload.query, limits.parseOptions);
        } catch (err) {
          return withCode([err as GraphQLError], ApolloServerErrorCode.GRAPHQL_PARSE_FAILED);
        }
        const invalid = validate(schema, document, rules);
        if (invalid.length) return withCode(invalid, ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED);
        const operation = getOperationAST(document, payload.operationName);
        if (operation?.operation !== 'subscription') {
          const message = 'Only subscriptions are served over WebSocket: send queries and mutations to POST /graphql';
          return withCode([new GraphQLError(message)], ApolloServerErrorCode.BAD_REQUEST);
        }
        const variables = getVariableValues(schema, operation.variableDefinitions ?? [], payload.variables ?? {});
        if (variables.errors) return withCode(variables.errors, ApolloServerErrorCode.BAD_USER_INPUT);
        return { schema, document, operationName: payload.operationName, variableValues: payload.variables };
      },
      // Operations run only on acknowledged connections, which onConnect gave their authorization.
      context: (ctx) => createContext(ctx.extra.connection!.user, services, { revoked: ctx.extra.connection!.revoked }),
      onClose: (ctx) => ctx.extra.connection?.forget(),
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors ? { ...result, errors: result.errors.map((e) => formatError(e.toJSON(), e)) } : undefined,
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => formatError(e.toJSON(), e)),
    },
    wss,
  );

  return {
    async serverWillStart() {
      return {
        async drainServer() {
          auth.stop();
          const closed = server.dispose();
          const cut = setTimeout(() => {
            for (const socket of wss.clients) socket.terminate();
          }, CLOSE_GRACE_MS);
          try {
            await closed;
          } finally {
            clearTimeout(cut);
          }
        },
      };
    },
  };
}

function withCode(errors: readonly GraphQLError[], code: string): GraphQLError[] {
  return errors.map(
    (e) =>
      new GraphQLError(e.message, {
        nodes: e.nodes,
        source: e.source,
        positions: e.positions,
        originalError: e.originalError,
        extensions: { ...e.extensions, code },
      }),
  );
}
