// Starts GraphiQL on the page served at GET /graphql. React, ReactDOM, GraphiQL and graphqlWs are the globals of
// the UMD scripts loaded before this one. A file rather than an inline script: the page's Content-Security-Policy
// allows only scripts from this server.
'use strict';

(function () {
  // GraphiQL's bundle tags the <style> elements it adds with webpack's nonce global when one is set: this page's
  // nonce, which its Content-Security-Policy allows, so inline styles need not be allowed wholesale.
  window.__webpack_nonce__ = document.querySelector('meta[property="csp-nonce"]').nonce;

  const root = document.getElementById('graphiql');
  const endpoint = new URL(root.dataset.endpoint, location.href);
  // The same host and path; wss:// when the page came over https://.
  const socketUrl = endpoint.href.replace(/^http/, 'ws');

  // Pre-filled in the headers editor as a hint, and never sent until "<token>" is replaced: the server would
  // answer it with 401 "Invalid token", when the operation needs no token at all.
  const TOKEN_HINT = 'Bearer <token>';
  // graphql-ws's close code for a connection the server refused: here, a missing, bad or expired token.
  const FORBIDDEN = 4403;

  const DEFAULT_QUERY = `# Reservations GraphQL API
#
# 1. Get a token: run LogIn (or signUp) below and copy "token" from the result.
# 2. Paste it in the Headers tab below, in place of <token>.
#    Queries and mutations send it as the Authorization header; subscriptions
#    run over graphql-ws on this same URL and send it as the connection's
#    { authorization } parameter.
# 3. Put the cursor in an operation and press Ctrl-Enter (or the run button).

mutation LogIn {
  logIn(email: "you@example.com", password: "your password") {
    token
    user { id username role }
  }
}

query Me {
  me { id username role }
}

query Reservations {
  reservations(first: 10) {
    totalCount
    nodes { id reference startTime partySize status }
  }
}

subscription StatusChanges {
  reservationStatusChanged {
    reservation { id reference status }
    event { from to at actor reason }
  }
}
`;

  function withoutHint(headers) {
    return Object.fromEntries(
      Object.entries(headers || {}).filter(([name, value]) => !(name.toLowerCase() === 'authorization' && value === TOKEN_HINT)),
    );
  }

  function authorizationIn(headers) {
    const entry = Object.entries(headers).find(([name]) => name.toLowerCase() === 'authorization');
    return entry ? String(entry[1]) : undefined;
  }

  /** Whether the operation GraphiQL runs (the named one, else the document's only one) is a subscription. */
  function isSubscription(operationName, documentAST) {
    const operations = ((documentAST && documentAST.definitions) || []).filter((d) => d.kind === 'OperationDefinition');
    const operation = operationName ? operations.find((op) => op.name && op.name.value === operationName) : operations[0];
    return Boolean(operation && operation.operation === 'subscription');
  }

  async function overHttp(params, headers) {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...headers },
      body: JSON.stringify(params),
    });
    // GraphQL errors, 401 included, come as JSON and are shown as such; anything else (a proxy's error page) is not.
    if (!/json/.test(response.headers.get('content-type') || '')) {
      throw new Error(`HTTP ${response.status} ${response.statusText}: not a GraphQL response`);
    }
    return response.json();
  }

  // One graphql-ws client for the token in use (the server authenticates a connection once, when it opens);
  // replaced when the token changes.
  let socket;
  function clientFor(authorization) {
    if (!socket || socket.authorization !== authorization) {
      if (socket) socket.client.dispose();
      socket = {
        authorization,
        client: graphqlWs.createClient({
          url: socketUrl,
          connectionParams: { authorization },
          // Reconnect after a dropped connection (a server restart), but not after a refusal: the same token
          // would be refused again.
          shouldRetry: (closed) => typeof closed?.code === 'number' && closed.code !== FORBIDDEN,
        }),
      };
    }
    return socket.client;
  }

  /** Errors GraphiQL can show: a socket's CloseEvent carries no message of its own. */
  function readable(err) {
    if (typeof err?.code !== 'number' || !('reason' in err)) return err;
    if (err.code === FORBIDDEN) {
      return new Error('The server refused the subscription connection (4403 Forbidden): the token is invalid or expired.');
    }
    return new Error(`The subscription connection closed: ${err.code} ${err.reason}`.trim());
  }

  async function* overWebSocket(params, authorization) {
    if (!authorization) {
      throw new Error('Subscriptions need a token: put it in the Headers tab, as {"Authorization": "Bearer <token>"}.');
    }
    try {
      // Delegating lets GraphiQL's stop button reach graphql-ws's iterator, which unsubscribes.
      yield* clientFor(authorization).iterate(params);
    } catch (err) {
      throw readable(err);
    }
  }

  function fetcher(params, options) {
    const headers = withoutHint(options && options.headers);
    return isSubscription(params.operationName, options && options.documentAST)
      ? overWebSocket(params, authorizationIn(headers))
      : overHttp(params, headers);
  }

  // GraphiQL's localStorage, less every header. shouldPersistHeaders: false keeps them out of the editors' saved
  // state, but GraphiQL 3 still saves each run's headers, token and all, in its history and favourites.
  const HISTORY_KEYS = new Set(['graphiql:queries', 'graphiql:favorites']);
  function withoutHeaders(value) {
    const stored = JSON.parse(value); // { queries: [entry…] } or { favorites: [entry…] }
    for (const entries of Object.values(stored)) for (const entry of entries) delete entry.headers;
    return JSON.stringify(stored);
  }
  const storage = {
    getItem: (key) => localStorage.getItem(key),
    setItem: (key, value) => localStorage.setItem(key, HISTORY_KEYS.has(key) ? withoutHeaders(value) : value),
    removeItem: (key) => localStorage.removeItem(key),
    // As GraphiQL's default storage: only its own keys (the settings dialog's "clear storage").
    clear() {
      for (const key of Object.keys(localStorage)) if (key.startsWith('graphiql:')) localStorage.removeItem(key);
    },
    get length() {
      return Object.keys(localStorage).filter((key) => key.startsWith('graphiql:')).length;
    },
  };

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultQuery: DEFAULT_QUERY,
      defaultHeaders: JSON.stringify({ Authorization: TOKEN_HINT }, null, 2),
      // Open on the headers editor: it is where the token goes.
      defaultEditorToolsVisibility: 'headers',
      // GraphiQL's default, stated because it is a security choice: no token is kept in the browser.
      shouldPersistHeaders: false,
      storage,
    }),
  );
})();
