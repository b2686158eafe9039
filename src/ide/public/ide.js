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
  // graphql-ws's close codes: 4403 for a connection the server refused (a missing, bad or expired token) or, with a
  // reason of its own, closed later (the account was deleted or is no longer an admin); 4401 for one whose token
  // expired while it was open. Neither is retried: the same token would be refused again.
  const FORBIDDEN = 4403;
  const UNAUTHORIZED = 4401;

  // The sign-in panel's session: { token, email, role }, for this tab's browser session only (sessionStorage).
  const SESSION_KEY = 'ide:session';
  function storedSession() {
    try {
      const session = JSON.parse(sessionStorage.getItem(SESSION_KEY));
      return session && typeof session.token === 'string' ? session : null;
    } catch {
      return null;
    }
  }

  const DEFAULT_QUERY = `# Reservations GraphQL API
#
# 1. Sign in with the form above: every request then carries your token
#    (kept for this browser tab's session only). Or get a token with LogIn
#    (or signUp) below and paste it in the Headers tab, in place of <token>.
#    Queries and mutations send it as the Authorization header; subscriptions
#    run over graphql-ws on this same URL and send it as the connection's
#    { authorization } parameter.
# 2. Put the cursor in an operation and press Ctrl-Enter (or the run button).
#
# Servers that show their schema to admins only: sign in as an admin for the
# docs and completion. Everyone else can still run operations; the schema is
# published as schema.graphql.

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

  /** `onUnauthorized`: called when the server refuses the request's token itself (HTTP 401, not a resolver's error). */
  async function overHttp(params, headers, onUnauthorized) {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...headers },
      body: JSON.stringify(params),
    });
    // GraphQL errors, 401 included, come as JSON and are shown as such; anything else (a proxy's error page) is not.
    if (!/json/.test(response.headers.get('content-type') || '')) {
      throw new Error(`HTTP ${response.status} ${response.statusText}: not a GraphQL response`);
    }
    if (response.status === 401 && onUnauthorized) onUnauthorized();
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
          shouldRetry: (closed) => typeof closed?.code === 'number' && closed.code !== FORBIDDEN && closed.code !== UNAUTHORIZED,
        }),
      };
    }
    return socket.client;
  }

  /** Errors GraphiQL can show: a socket's CloseEvent carries no message of its own. */
  function readable(err) {
    if (typeof err?.code !== 'number' || !('reason' in err)) return err;
    if (err.code === FORBIDDEN && err.reason === 'Forbidden') {
      return new Error('The server refused the subscription connection (4403 Forbidden): the token is invalid or expired.');
    }
    if (err.code === FORBIDDEN || err.code === UNAUTHORIZED) {
      return new Error(`The server closed the subscription connection (${err.code} ${err.reason}): sign in again.`);
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

  /**
   * GraphiQL's fetcher: the headers editor's Authorization when one is typed there, else the signed-in token.
   * `onTokenRefused` is called when the server refuses the signed-in token (expired, or its account changed).
   */
  function fetcherFor(token, onTokenRefused) {
    return function fetcher(params, options) {
      const headers = withoutHint(options && options.headers);
      const signedIn = Boolean(token) && !authorizationIn(headers);
      if (signedIn) headers.Authorization = `Bearer ${token}`;
      if (isSubscription(params.operationName, options && options.documentAST)) {
        const results = overWebSocket(params, authorizationIn(headers));
        return signedIn ? endingSessionOnClose(results, onTokenRefused) : results;
      }
      return overHttp(params, headers, signedIn ? onTokenRefused : undefined);
    };
  }

  async function* endingSessionOnClose(results, onTokenRefused) {
    try {
      yield* results;
    } catch (err) {
      if (/\((4401|4403) /.test(err.message)) onTokenRefused();
      throw err;
    }
  }

  async function logIn(email, password) {
    const result = await overHttp(
      {
        query: 'mutation IdeSignIn($email: String!, $password: String!) { logIn(email: $email, password: $password) { token user { email role } } }',
        variables: { email, password },
        operationName: 'IdeSignIn',
      },
      {},
    );
    if (result.errors && result.errors.length) throw new Error(result.errors[0].message);
    const { token, user } = result.data.logIn;
    return { token, email: user.email, role: user.role };
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

  const h = React.createElement;

  /** The sign-in panel above the IDE: email and password → logIn → the token every request then carries. */
  function SignIn({ session, notice, onSignIn, onSignOut }) {
    const [message, setMessage] = React.useState(notice);
    React.useEffect(() => setMessage(notice), [notice]);
    const [busy, setBusy] = React.useState(false);
    if (session) {
      return h(
        'div',
        { className: 'ide-sign-in', role: 'region', 'aria-label': 'Sign-in' },
        h('span', { className: 'ide-sign-in-status' }, 'Signed in as ', h('strong', null, session.email), ` (${session.role})`),
        h('button', { type: 'button', className: 'ide-sign-in-button', onClick: onSignOut }, 'Sign out'),
      );
    }
    async function submit(event) {
      event.preventDefault();
      const form = event.currentTarget;
      setBusy(true);
      setMessage('');
      try {
        const session = await logIn(form.elements.email.value.trim(), form.elements.password.value);
        setBusy(false);
        onSignIn(session);
      } catch (err) {
        setMessage(err.message);
        setBusy(false);
      }
    }
    return h(
      'form',
      { className: 'ide-sign-in', 'aria-label': 'Sign in', onSubmit: submit },
      h('span', { className: 'ide-sign-in-status' }, 'Not signed in'),
      h('input', { name: 'email', type: 'email', placeholder: 'Email', autoComplete: 'username', required: true, 'aria-label': 'Email' }),
      h('input', {
        name: 'password',
        type: 'password',
        placeholder: 'Password',
        autoComplete: 'current-password',
        required: true,
        'aria-label': 'Password',
      }),
      h('button', { type: 'submit', className: 'ide-sign-in-button', disabled: busy }, busy ? 'Signing in…' : 'Sign in'),
      message ? h('span', { className: 'ide-sign-in-error', role: 'alert' }, message) : null,
    );
  }

  function Ide() {
    const [session, setSession] = React.useState(storedSession);
    const token = session ? session.token : null;
    const [notice, setNotice] = React.useState('');
    const signIn = (signedIn) => {
      sessionStorage.setItem(SESSION_KEY, JSON.stringify(signedIn));
      setNotice('');
      setSession(signedIn);
    };
    const signOut = () => {
      sessionStorage.removeItem(SESSION_KEY);
      setSession(null);
    };
    const fetcher = React.useMemo(
      () =>
        fetcherFor(token, () => {
          signOut();
          setNotice('The server no longer accepts your sign-in (expired, or the account changed): sign in again.');
        }),
      [token],
    );
    return h(
      React.Fragment,
      null,
      h(SignIn, { session, notice, onSignIn: signIn, onSignOut: signOut }),
      h(
        'div',
        { className: 'ide-graphiql' },
        // A new GraphiQL for each token: it loads the schema this token may see, and forgets one it may not.
        h(GraphiQL, {
          key: token || 'anonymous',
          fetcher,
          defaultQuery: DEFAULT_QUERY,
          defaultHeaders: JSON.stringify({ Authorization: TOKEN_HINT }, null, 2),
          // Open on the headers editor: it is where a pasted token goes.
          defaultEditorToolsVisibility: 'headers',
          // GraphiQL's default, stated because it is a security choice: no pasted token is kept in the browser (the
          // signed-in one lives in sessionStorage, which ends with the tab).
          shouldPersistHeaders: false,
          storage,
        }),
      ),
    );
  }

  ReactDOM.createRoot(root).render(h(Ide));
})();
