// The one place that maps failures to GraphQL error codes.
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import mongoose from 'mongoose';
import { TooManyAttemptsError } from '../security/login-limits.js';
import { TransitionError } from '../status/errors.js';

export const ErrorCode = Object.freeze({
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  INVALID_TRANSITION: 'INVALID_TRANSITION',
  CANCELLATION_CLOSED: 'CANCELLATION_CLOSED',
  TOO_MANY_REQUESTS: 'TOO_MANY_REQUESTS',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const);
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export function appError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extensions } });
}

export const unauthenticated = (message = 'You must be logged in') => appError(ErrorCode.UNAUTHENTICATED, message);
export const forbidden = (message = 'You are not allowed to do this') => appError(ErrorCode.FORBIDDEN, message);
export const notFound = (message = 'Reservation not found') => appError(ErrorCode.NOT_FOUND, message);
export const badInput = (message: string, field?: string) =>
  appError(ErrorCode.BAD_USER_INPUT, message, field ? { field } : {});

/** Domain errors thrown below the resolvers, as GraphQL errors. */
export function toGraphQLError(err: unknown): unknown {
  if (err instanceof TransitionError) {
    if (err.kind === 'NOT_FOUND') return notFound();
    if (err.kind === 'CANCELLATION_CLOSED') return appError(ErrorCode.CANCELLATION_CLOSED, err.message, { status: err.current });
    return appError(ErrorCode.INVALID_TRANSITION, err.message, { status: err.current, to: err.to });
  }
  if (err instanceof TooManyAttemptsError) {
    const { retryAfterSeconds } = err;
    return appError(ErrorCode.TOO_MANY_REQUESTS, err.message, {
      retryAfterSeconds,
      // Apollo turns `http` into the response's status and headers and leaves it out of the body.
      http: { status: 429, headers: new Map([['retry-after', String(retryAfterSeconds)]]) },
    });
  }
  return err;
}

const isKnownCode = (code: string) => (Object.values(ErrorCode) as string[]).includes(code);

function isDatabaseUnavailable(err: unknown): boolean {
  return (
    err instanceof mongoose.mongo.MongoServerSelectionError ||
    err instanceof mongoose.mongo.MongoNetworkError ||
    err instanceof mongoose.mongo.MongoNotConnectedError ||
    (err instanceof Error && /buffering timed out|Client must be connected|connection .* closed/i.test(err.message))
  );
}

/**
 * graphql-js's suggestion suffix ("Did you mean \"reservations\"?"), as Apollo's ApolloServerPluginDisableSuggestions
 * strips it. Apollo strips it from validation errors only: variable coercion errors carry it too, and the WebSocket
 * transport validates outside Apollo, so formatError strips it from every error.
 */
export function withoutSuggestions(message: string): string {
  return message.replace(/ ?Did you mean(.+?)\?$/, '');
}

/**
 * Apollo's formatError: known codes pass through; GraphQL's own validation and parse errors pass through;
 * anything else is an internal error whose message and stack never reach clients in production. With
 * `hideSchemaDetails` (security/introspection.ts), no message suggests field, argument or type names.
 */
export function formatError(production: boolean, log: (err: unknown) => void, options: { hideSchemaDetails?: boolean } = {}) {
  const format = formatErrorShowingSchema(production, log);
  if (!options.hideSchemaDetails) return format;
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const shown = format(formatted, error);
    const stacktrace = shown.extensions?.stacktrace;
    return {
      ...shown,
      message: withoutSuggestions(shown.message),
      // Outside production the stack trace is shown, and its first line repeats the message.
      ...(Array.isArray(stacktrace)
        ? { extensions: { ...shown.extensions, stacktrace: stacktrace.map((line) => withoutSuggestions(String(line))) } }
        : {}),
    };
  };
}

function formatErrorShowingSchema(production: boolean, log: (err: unknown) => void) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    const code = formatted.extensions?.code as string | undefined;
    if (code && isKnownCode(code) && code !== ErrorCode.INTERNAL_SERVER_ERROR) return formatted;
    if (code && code !== ErrorCode.INTERNAL_SERVER_ERROR) return formatted; // GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED...
    if (isDatabaseUnavailable(original)) {
      return {
        message: 'The database is unavailable; try again shortly',
        locations: formatted.locations,
        path: formatted.path,
        extensions: { code: ErrorCode.SERVICE_UNAVAILABLE },
      };
    }
    log(original);
    if (!production) return formatted;
    return {
      message: 'Internal server error',
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
    };
  };
}
