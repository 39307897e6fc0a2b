/**
 * Who may do what on the dashboard. Reads are open to whoever reaches the server (bind it
 * to loopback, or put it behind an authenticating proxy). Actions (POST) need all of:
 *
 * 1. a token configured on the server: without one the dashboard is read-only;
 * 2. a same-origin request: an `Origin` other than the server's own host, or a
 *    `Sec-Fetch-Site` other than `same-origin`, is refused, so another site's page
 *    cannot drive the buttons;
 * 3. a JSON body (`Content-Type: application/json`), which an HTML form cannot send and a
 *    cross-origin script can send only after a CORS preflight that this server never grants;
 * 4. `Authorization: Bearer <token>`, compared in constant time. Browsers never attach
 *    it by themselves (unlike cookies), so a request that carries it was made on purpose.
 *
 * With `allowedHosts`, every request whose `Host` is not one of them is refused, which
 * stops DNS rebinding: a page of another site that re-points its own name at 127.0.0.1
 * still sends its own name as the Host.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { VisqRangeError } from '../errors.js';
import * as check from '../validate.js';
import { HttpError } from './http.js';

/** Fewest characters a dashboard token may have. */
export const MIN_TOKEN_LENGTH = 16;

/** Checks a token option: a string of 16 to 1024 characters without whitespace. */
export function tokenOption(name: string, value: unknown): string {
  const token = check.text(name, value, { maxLength: 1024 });
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new VisqRangeError(
      `Expected \`${name}\` to be a string of ${MIN_TOKEN_LENGTH} to 1024 characters without whitespace` +
        ` (e.g. the output of \`openssl rand -hex 16\`), got a string of ${token.length} characters`,
    );
  }
  return token;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The hostname of a Host header or URL host, lower-cased, IPv6 in brackets. */
function hostname(host: string): string | undefined {
  try {
    return new URL(`http://${host}`).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/** Whether a bind address is a loopback one (then only loopback names are fit Host headers). */
export function isLoopback(host: string): boolean {
  const name = hostname(host.includes(':') && !host.startsWith('[') ? `[${host}]` : host);
  return name === 'localhost' || name === '[::1]' || (name !== undefined && /^127(\.\d{1,3}){3}$/.test(name));
}

/** The Host names a loopback-bound server answers to. */
export const LOOPBACK_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];

export class Guard {
  /** SHA-256 of the token: equal-length buffers for timingSafeEqual whatever is sent. */
  readonly #tokenDigest: Buffer | undefined;
  readonly #allowedHosts: ReadonlySet<string> | undefined;

  constructor(token: string | undefined, allowedHosts: readonly string[] | undefined) {
    this.#tokenDigest = token === undefined ? undefined : digest(token);
    this.#allowedHosts =
      allowedHosts === undefined ? undefined : new Set(allowedHosts.map((h) => hostname(h) ?? h.toLowerCase()));
  }

  /** Whether actions are possible at all. */
  get readOnly(): boolean {
    return this.#tokenDigest === undefined;
  }

  /** Refuses a request whose Host is not allowed. */
  checkHost(request: IncomingMessage): void {
    if (!this.#allowedHosts) return;
    const name = hostname(request.headers.host ?? '');
    if (name === undefined || !this.#allowedHosts.has(name)) {
      throw new HttpError(403, `The Host ${JSON.stringify(request.headers.host ?? '')} is not one this dashboard answers to`);
    }
  }

  /** Refuses an action (a POST) unless every condition of the module comment holds. */
  checkAction(request: IncomingMessage): void {
    if (this.#tokenDigest === undefined) {
      throw new HttpError(
        403,
        'The dashboard is read-only: start it with a token (--token or VISQ_DASHBOARD_TOKEN) to allow actions',
      );
    }
    const origin = request.headers.origin;
    if (origin !== undefined && (originHost(origin) === undefined || originHost(origin) !== hostOf(request.headers.host ?? ''))) {
      throw new HttpError(403, `Cross-origin request refused (Origin ${JSON.stringify(origin)})`);
    }
    const site = request.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin') {
      throw new HttpError(403, `Cross-origin request refused (Sec-Fetch-Site ${JSON.stringify(site)})`);
    }
    const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') {
      throw new HttpError(415, 'Actions take a JSON body: send Content-Type: application/json');
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    if (!match?.[1] || !timingSafeEqual(digest(match[1]), this.#tokenDigest)) {
      throw new HttpError(401, 'Missing or wrong token: send Authorization: Bearer <token>', {
        'WWW-Authenticate': 'Bearer realm="visq"',
      });
    }
  }
}

/** The host[:port] of an Origin header (`null` included: an opaque origin is never ours). */
function originHost(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    return url.host === '' ? undefined : url.host.toLowerCase();
  } catch {
    return undefined;
  }
}

/** A Host header as URL.host writes it (lower case, default port dropped). */
function hostOf(host: string): string | undefined {
  try {
    return new URL(`http://${host}`).host.toLowerCase();
  } catch {
    return undefined;
  }
}
