// The browser GraphQL IDE: GraphiQL on `GET /graphql` for browsers, every file it needs served from this
// project's own dependencies (no CDN), so it works offline and behind firewalls.
//
// Why GraphiQL 3's prebuilt UMD bundle rather than GraphiQL 4 or 5: 3.x is the last line published with a
// browser-ready build, so serving it takes no bundler, no build step and no generated files to keep in step
// with the packages. 4 and 5 ship only ES modules (5 adds Monaco and its web workers), which would mean an
// esbuild step in the build and its output in the image. The UMD build runs on React 18's UMD globals (React 19
// ships no UMD build), and graphql-ws publishes its own UMD client for subscriptions.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Router, type Request } from 'express';

const require = createRequire(import.meta.url);

/** Where the page loads its files from, under the router's mount path. */
const ASSETS_PATH = '/ide';

/**
 * Every file the page loads, by the name it is served under. An explicit list rather than express.static over
 * package folders, so nothing else in node_modules is reachable over HTTP.
 */
function assetFiles(): Map<string, string> {
  const own = publicDir();
  const files = new Map([
    ['react.production.min.js', packageFile('react', 'umd/react.production.min.js')],
    ['react-dom.production.min.js', packageFile('react-dom', 'umd/react-dom.production.min.js')],
    ['graphiql.min.js', packageFile('graphiql', 'graphiql.min.js')],
    ['graphiql.min.css', packageFile('graphiql', 'graphiql.min.css')],
    ['graphql-ws.min.js', packageFile('graphql-ws', 'umd/graphql-ws.min.js')],
    ['ide.js', path.join(own, 'ide.js')],
    ['ide.css', path.join(own, 'ide.css')],
  ]);
  // A missing file is a broken install: fail at start-up rather than on an admin's first visit.
  for (const file of files.values()) {
    if (!existsSync(file)) throw new Error(`GraphQL IDE: ${file} is missing (reinstall the dependencies)`);
  }
  return files;
}

/** A file inside a package. These packages' export maps leave out their UMD builds, but all export package.json. */
function packageFile(pkg: string, file: string): string {
  return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), file);
}

/**
 * The IDE's own browser files. They are plain JavaScript and CSS, which tsc does not copy into dist/: from
 * dist/src/ide/ they are found at their source path under the project root, where the Docker image keeps them.
 */
function publicDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'public'), path.resolve(here, '../../../src/ide/public')];
  const found = candidates.find((dir) => existsSync(path.join(dir, 'ide.js')));
  if (!found) throw new Error(`GraphQL IDE: its browser files are missing (looked in ${candidates.join(', ')})`);
  return found;
}

/**
 * Only this server's scripts (so no inline script: the bootstrap is ide.js) and stylesheets, plus the <style>
 * elements GraphiQL's menus and dialogs add (react-remove-scroll), which carry this response's nonce; fonts and
 * icons that GraphiQL's CSS embeds as data: URLs; requests to this origin only (HTTP and, by CSP Level 3's
 * 'self', WebSocket); and no framing, as the page holds a bearer token.
 */
function contentSecurityPolicy(styleNonce: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self' 'nonce-${styleNonce}'`,
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Apollo Server's rule for its landing page: a GET whose Accept prefers HTML to every GraphQL response type. */
function prefersHtml(req: Request): boolean {
  return (
    req.accepts(['application/json', 'application/graphql-response+json', 'multipart/mixed', 'text/html']) === 'text/html'
  );
}

/**
 * `mountPath` is the GraphQL endpoint's own path, which the IDE sends its operations to. The style nonce is handed
 * to ide.js the way Vite does it, in a csp-nonce meta element: browsers hide a nonce attribute from CSS selectors.
 */
function page(mountPath: string, styleNonce: string): string {
  const asset = (name: string) => `${mountPath}${ASSETS_PATH}/${name}`;
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>GraphQL IDE</title>
  <meta property="csp-nonce" nonce="${styleNonce}">
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="${asset('graphiql.min.css')}">
  <link rel="stylesheet" href="${asset('ide.css')}">
</head>
<body>
  <div id="graphiql" data-endpoint="${mountPath}">Loading the GraphQL IDE…</div>
  <noscript>The GraphQL IDE needs JavaScript. Machine clients: POST your operations to this URL.</noscript>
  <script src="${asset('react.production.min.js')}"></script>
  <script src="${asset('react-dom.production.min.js')}"></script>
  <script src="${asset('graphiql.min.js')}"></script>
  <script src="${asset('graphql-ws.min.js')}"></script>
  <script src="${asset('ide.js')}"></script>
</body>
</html>
`;
}

/**
 * Mount on the GraphQL endpoint's path, before the GraphQL middleware: browsers get the IDE, every other request
 * (POST, and GET preferring JSON) passes through untouched.
 */
export function graphqlIde(): Router {
  const files = assetFiles();
  const router = Router();

  router.get('/', (req, res, next) => {
    if (!prefersHtml(req)) return next();
    const styleNonce = randomBytes(16).toString('base64');
    res
      .set({
        // The app's other security headers (nosniff, framing, referrer) are set for every response by
        // src/security/http.ts; the content policy is this page's own.
        'Content-Security-Policy': contentSecurityPolicy(styleNonce),
        // A fresh nonce each time: never reuse a page.
        'Cache-Control': 'no-store',
      })
      // The same URL answers machine clients with JSON: no cache may hand them this page.
      .vary('Accept')
      .type('html')
      // req.baseUrl is the mount path as matched: "/graphql" in any letter case, so safe to echo into the page.
      .send(page(req.baseUrl, styleNonce));
  });

  router.get(`${ASSETS_PATH}/:name`, (req, res) => {
    const file = files.get(req.params.name);
    if (!file) {
      res.sendStatus(404);
      return;
    }
    // sendFile's defaults (ETag, max-age=0) make browsers revalidate: the names carry no version, so an
    // upgrade shows at once.
    res.sendFile(file);
  });

  return router;
}
