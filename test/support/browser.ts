// A headless browser for tests: Debian's Chromium (never a downloaded browser) driven by playwright-core, with
// the network cut off at this machine, and GraphiQL's page as a user works it.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Locator, type Page } from 'playwright-core';
import { pollUntil } from './poll.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`No Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium) or set CHROMIUM_PATH`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}

const isLocal = (url: URL) => url.hostname === '127.0.0.1' || url.hostname === 'localhost';

/**
 * A browser context that can reach this machine only, as behind a firewall. Every request elsewhere (HTTP or
 * WebSocket) is refused and recorded in `blocked`, so a test can assert that the page needed none.
 */
export async function offlineContext(
  browser: Browser,
  options: BrowserContextOptions = {},
): Promise<{ context: BrowserContext; blocked: string[] }> {
  const context = await browser.newContext(options);
  const blocked: string[] = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (isLocal(url)) return route.continue();
    blocked.push(url.href);
    return route.abort('blockedbyclient');
  });
  await context.routeWebSocket(
    (url) => !isLocal(url),
    (ws) => {
      blocked.push(ws.url());
      return ws.close();
    },
  );
  return { context, blocked };
}

/**
 * GraphiQL 3 as its user drives it: typing into its editors, pressing run, reading the result pane. Editors are
 * CodeMirror 5: text goes in as typed input (select all, then insert), and is read back through the editor
 * (it renders only the lines in view).
 */
export class GraphiQLPage {
  readonly queryEditor: Locator;
  readonly headersEditor: Locator;
  readonly resultPane: Locator;

  constructor(readonly page: Page) {
    this.queryEditor = page.locator('.graphiql-query-editor .CodeMirror');
    // The editor tools hold the variables and headers editors, one of them hidden.
    this.headersEditor = page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror');
    this.resultPane = page.locator('.graphiql-response .CodeMirror');
  }

  async open(url: string): Promise<void> {
    await this.page.goto(url);
    await this.queryEditor.waitFor();
  }

  async type(editor: Locator, text: string): Promise<void> {
    await editor.click();
    await this.page.keyboard.press('ControlOrMeta+A');
    await this.page.keyboard.insertText(text);
  }

  text(editor: Locator): Promise<string> {
    return editor.evaluate((el: any) => el.CodeMirror.getValue() as string);
  }

  /** Puts `operation` in the query editor and runs it. */
  async run(operation: string): Promise<void> {
    await this.type(this.queryEditor, operation);
    // GraphiQL parses the query 100 ms after the last keystroke, and runs what it last parsed (the run button
    // even turns into a menu while the previous text had several operations): wait, as a user's pause would.
    await pollUntil(
      () => this.queryEditor.evaluate((el: any) => el.CodeMirror.documentAST?.loc?.source.body === el.CodeMirror.getValue()),
      (parsed) => parsed,
      'GraphiQL to parse the query',
    );
    await this.page.locator('.graphiql-execute-button').click();
  }

  /** The result pane's JSON once `done` holds of it. */
  async result(done: (result: any) => boolean, what: string, timeoutMs?: number): Promise<any> {
    const text = await pollUntil(
      () => this.text(this.resultPane),
      (t) => {
        try {
          return done(JSON.parse(t));
        } catch {
          return false; // empty, or not yet a whole result
        }
      },
      what,
      timeoutMs,
    );
    return JSON.parse(text);
  }
}
