// Bounds on the work one GraphQL request can ask for: its size in tokens, its depth, its aliases and directives, its
// estimated cost (type-graphql's per-field `complexity`, 1 per field otherwise) and the operations per batch.
//
// The defaults leave the product's own operations (depth 4, complexity under 40) and the IDE's introspection
// query (depth 15, complexity about 230, under 800 tokens) well inside. Introspection is counted like any other
// selection: its types refer to each other, so it is where a schema without cycles can still be nested deeply.
import type { ApolloServerOptions, ApolloServerPlugin } from '@apollo/server';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { GraphQLError, getVariableValues, type GraphQLSchema, type ValidationContext } from 'graphql';
import { fieldExtensionsEstimator, getComplexity, simpleEstimator } from 'graphql-query-complexity';
import type { Config } from '../config.js';

type LimitOptions = 'parseOptions' | 'validationRules' | 'allowBatchedHttpRequests' | 'persistedQueries';

/** The ApolloServer options that bound parsing, validation and batching. */
export function apolloQueryLimits(c: Config): Pick<ApolloServerOptions<never>, LimitOptions> {
  return {
    // Stops the parser itself, before a huge document costs validation time (or the recursion of a deep one).
    parseOptions: { maxTokens: c.QUERY_MAX_TOKENS },
    validationRules: [
      maxDepthRule({
        n: c.QUERY_MAX_DEPTH,
        // The depth of fields as executed: fragments add no level of their own, and introspection counts.
        flattenFragments: true,
        ignoreIntrospection: false,
        ...reportAsValidationError,
      }),
      // Every alias counts, `__typename`'s too: graphql-armor exempts it by default, and a hundred aliased
      // `__typename`s is a scanner's first probe (each is cheap, but the response grows with them).
      maxAliasesRule({ n: c.QUERY_MAX_ALIASES, allowList: [], ...reportAsValidationError }),
      // Directives on every field, fragment and the operation itself, known or not (unknown ones still cost an
      // error each).
      maxDirectivesRule({ n: c.QUERY_MAX_DIRECTIVES, ...reportAsValidationError }),
    ],
    allowBatchedHttpRequests: c.MAX_BATCH > 1,
    // Automatic persisted queries off: no client of this API sends them, they let any client park documents in
    // the server's memory, and some of Apollo's refusals of them carry no error code (so they read as internal).
    persistedQueries: false,
  };
}

// graphql-armor throws its error out of the validation visitor by default, which stops validation with an
// exception instead of a validation error: report it through the context, as graphql-js's own rules do.
// (Its messages start with "Syntax Error: " whatever the rule; they still name the limit and the count.)
const reportAsValidationError = Object.freeze({
  propagateOnRejection: false,
  // (The context is null only where armor runs outside graphql-js validation, which is not here.)
  onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(error)],
});

/**
 * Refuses, once Apollo knows which operation will run and with which variables (so `@include`/`@skip` and
 * list arguments are known), an operation HTTP does not serve: a subscription (graphql-ws serves those on the
 * same path; over HTTP Apollo would run the subscription's resolver once with no event) or one whose estimated
 * complexity exceeds QUERY_MAX_COMPLEXITY.
 */
export function operationLimits(schema: GraphQLSchema, c: Config): ApolloServerPlugin {
  const estimators = [fieldExtensionsEstimator(), simpleEstimator({ defaultComplexity: 1 })];
  const max = c.QUERY_MAX_COMPLEXITY;
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document, operation }) {
          // No operation of that name: Apollo answers OPERATION_RESOLUTION_FAILURE. There is nothing to estimate,
          // and the estimator would fail with an internal message.
          if (!operation) return;
          if (operation.operation === 'subscription') {
            throw new GraphQLError('Subscriptions are served over WebSocket (graphql-ws) at this URL, not over HTTP', {
              extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
            });
          }
          // Variables that do not fit their types fail execution before any resolver runs: leave that error
          // (BAD_USER_INPUT) to the executor rather than estimating a cost with values that will not be used.
          const variables = request.variables ?? {};
          if (getVariableValues(schema, operation.variableDefinitions ?? [], variables).errors) return;
          let complexity: number;
          try {
            complexity = getComplexity({
              schema,
              query: document,
              operationName: request.operationName,
              variables,
              estimators,
            });
          } catch (err) {
            // Its only other failure is the node budget it keeps for itself (fragments spread inside fragments
            // multiply): a query too large to estimate is too large.
            throw queryLimitError(`The query is too large to estimate its complexity: ${(err as Error).message}`);
          }
          if (complexity > max) {
            throw queryLimitError(
              `Query complexity limit of ${max} exceeded, found ${complexity} (QUERY_MAX_COMPLEXITY)`,
            );
          }
        },
      };
    },
  };
}

/** The code and status Apollo gives validation failures, so every limit on a query's shape reads the same. */
const queryLimitError = (message: string) =>
  new GraphQLError(message, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } } });
