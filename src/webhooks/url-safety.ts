// Where webhooks may go. Unless WEBHOOK_ALLOW_PRIVATE_URLS=true: https only in production, and never to an
// address inside the network the server runs in — loopback, private, link-local (the cloud metadata service at
// 169.254.169.254 among them), unique-local, carrier-grade NAT, multicast, unspecified or reserved — whatever the
// hostname. Checked when an endpoint is created or changed (a clear BAD_USER_INPUT) and again on every delivery
// by the connection's own DNS lookup (`guardedLookup`), so the address checked is the address connected to: a
// hostname that resolved to a public address at creation and to 10.0.0.5 today (DNS rebinding) is refused today.
//
// The address rules are ipaddr.js's ranges: anything but plain public unicast is refused. What no library gives
// is the lookup hook, so it is written here (a few lines around dns.lookup).
import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { Config } from '../config.js';

export type UrlRules = Pick<Config, 'NODE_ENV' | 'WEBHOOK_ALLOW_PRIVATE_URLS'>;

export class UnsafeUrlError extends Error {
  override readonly name = 'UnsafeUrlError';
}

/** Whether `address` (an IP literal) is a public unicast address. */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  return ipaddr.process(address).range() === 'unicast';
}

/** The URL's form: http(s), no credentials, https in production. Throws UnsafeUrlError saying what is wrong. */
export function parseWebhookUrl(text: string, rules: UrlRules): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UnsafeUrlError('url is not a valid URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UnsafeUrlError('url must be http or https');
  if (url.username || url.password) throw new UnsafeUrlError('url must not contain credentials');
  if (text.length > 2000) throw new UnsafeUrlError('url must be at most 2000 characters');
  if (rules.NODE_ENV === 'production' && !rules.WEBHOOK_ALLOW_PRIVATE_URLS && url.protocol !== 'https:') {
    throw new UnsafeUrlError('url must be https');
  }
  return url;
}

/** The host of a URL as an address literal, if it is one (`[::1]` → `::1`). */
const literalOf = (url: URL) => {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return ipaddr.isValid(host) ? host : undefined;
};

/** The whole check at creation: the form, then every address the hostname resolves to now. */
export async function checkWebhookUrl(text: string, rules: UrlRules): Promise<URL> {
  const url = parseWebhookUrl(text, rules);
  if (rules.WEBHOOK_ALLOW_PRIVATE_URLS) return url;
  const literal = literalOf(url);
  const addresses = literal
    ? [literal]
    : await dns.promises.lookup(url.hostname, { all: true, verbatim: true }).then(
        (found) => found.map((a) => a.address),
        () => {
          throw new UnsafeUrlError(`url's host ${url.hostname} does not resolve`);
        },
      );
  const refused = addresses.find((a) => !isPublicAddress(a));
  if (refused) {
    const shown = ipaddr.isValid(refused) ? ipaddr.process(refused).toString() : refused;
    throw new UnsafeUrlError(`url resolves to ${shown}, a loopback, private, link-local or reserved address`);
  }
  return url;
}

/**
 * A `lookup` for http(s).request that refuses non-public addresses (rules.WEBHOOK_ALLOW_PRIVATE_URLS: plain
 * dns.lookup). An address literal in the URL never reaches a lookup: `assertLiteralAllowed` covers it.
 */
export function guardedLookup(rules: UrlRules): LookupFunction | undefined {
  if (rules.WEBHOOK_ALLOW_PRIVATE_URLS) return undefined;
  return ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err);
      const refused = addresses.find((a) => !isPublicAddress(a.address));
      if (refused) return callback(new UnsafeUrlError(`${hostname} resolves to ${refused.address}, which webhooks may not reach`));
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  }) as LookupFunction;
}

export function assertLiteralAllowed(url: URL, rules: UrlRules): void {
  if (rules.WEBHOOK_ALLOW_PRIVATE_URLS) return;
  const literal = literalOf(url);
  if (literal && !isPublicAddress(literal)) throw new UnsafeUrlError(`${literal} is not an address webhooks may reach`);
}
