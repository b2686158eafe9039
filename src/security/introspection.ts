// Who may read the schema through the API: introspection per GRAPHQL_INTROSPECTION, and no schema details
// (graphql-js's "Did you mean …?" suggestions) in errors wherever the schema is not public.
//
// Why a plugin rather than Apollo's `introspection` option: that option is one switch for everyone, decided at
// start-up, and validation results are cached per document; `admins` depends on who asks, so it is decided per
// request, once Apollo knows the operation and the context holds the user.
import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, NoSchemaIntrospectionCustomRule, validate, type GraphQLSchema } from 'graphql';
import type { Config } from '../config.js';
import { isAdmin } from '../schema/auth.js';
import type { Context } from '../schema/context.js';

/** The ApolloServer options this module owns. */
export function apolloSchemaExposure(c: Config): { introspection: boolean; hideSchemaDetailsFromClientErrors: boolean } {
  return {
    // Apollo's switch stays on: introspectionPolicy refuses whoever GRAPHQL_INTROSPECTION leaves out (under `off`
    // everyone), with one message that names the published schema rather than Apollo's advice to its developers.
    introspection: true,
    hideSchemaDetailsFromClientErrors: hidesSchemaDetails(c),
  };
}

/**
 * Whether clients' errors leave out schema details: always in production, and wherever introspection is not open
 * to everyone (a suggestion names fields the schema otherwise hides).
 */
export function hidesSchemaDetails(c: Config): boolean {
  return c.NODE_ENV === 'production' || c.GRAPHQL_INTROSPECTION !== 'on';
}

/** The refusal of an introspection query, with the code and validation code Apollo gives its own. */
function introspectionRefused(c: Config): GraphQLError {
  const message =
    c.GRAPHQL_INTROSPECTION === 'off'
      ? 'Introspection is disabled on this server; the schema is published as schema.graphql'
      : "Introspection is answered only for an admin's token on this server; the schema is published as schema.graphql";
  return new GraphQLError(message, {
    extensions: { code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'INTROSPECTION_DISABLED', http: { status: 400 } },
  });
}

/** Only operations that could introspect are validated for it: a fast pre-check on the text (`__typename` is fine). */
const MAY_INTROSPECT = /__(schema|type)\b/;

/** Refuses `__schema` and `__type` (directly or through fragments) to whoever GRAPHQL_INTROSPECTION leaves out. */
export function introspectionPolicy(schema: GraphQLSchema, c: Config): ApolloServerPlugin<Context> {
  const mode = c.GRAPHQL_INTROSPECTION;
  return {
    async requestDidStart() {
      if (mode === 'on') return;
      return {
        async didResolveOperation({ request, document, contextValue }) {
          if (mode === 'admins' && isAdmin(contextValue.user)) return;
          if (!MAY_INTROSPECT.test(request.query ?? '')) return;
          if (validate(schema, document, [NoSchemaIntrospectionCustomRule]).length > 0) throw introspectionRefused(c);
        },
      };
    },
  };
}
