// One log line per GraphQL operation: its name, type, duration, outcome and user id. Never the variables
// (they carry passwords) nor the response.
import type { ApolloServerPlugin } from '@apollo/server';
import type { Logger } from 'pino';
import type { Context } from './context.js';

export function operationLog(log: Logger): ApolloServerPlugin<Context> {
  return {
    async requestDidStart({ contextValue }) {
      const started = process.hrtime.bigint();
      return {
        async willSendResponse({ operationName, operation, errors, response }) {
          const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
          const single = response.body.kind === 'single' ? response.body.singleResult : undefined;
          const all = errors ?? single?.errors ?? [];
          const codes = [...new Set(all.map((e) => String(e.extensions?.code ?? 'INTERNAL_SERVER_ERROR')))];
          log.info(
            {
              operation: operationName ?? null,
              type: operation?.operation ?? null,
              durationMs: Math.round(durationMs * 10) / 10,
              outcome: codes.length ? 'error' : 'ok',
              ...(codes.length ? { errorCodes: codes } : {}),
              userId: contextValue.user?.id.toString() ?? null,
            },
            'graphql operation',
          );
        },
      };
    },
  };
}
