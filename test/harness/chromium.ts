/**
 * Debian's chromium (`/usr/bin/chromium`) driven by playwright-core, as the dashboard's
 * browser tests and `npm run docs:screenshots` launch it: headless, in a profile of the
 * caller's, with the flags that keep it from reaching out of a closed machine.
 */
import { existsSync } from 'node:fs';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);

/**
 * No sandbox (CI runs as root); no GPU; and no background networking, component updates
 * or sync, whose connections this machine's closed network refuses many at a time.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** A headless chromium on the profile directory `profile`, with pages of `viewport`. */
export function launchChromium(profile: string, viewport: { width: number; height: number }): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport });
}
