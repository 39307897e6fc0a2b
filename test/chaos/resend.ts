/**
 * A client that sends some scripts twice, as ioredis does after a dropped connection
 * (`autoResendUnfulfilledCommands`, on by default): the caller sees the second answer
 * only. Used by resend.test.ts to make each case exact, and by the chaos run's processes.
 */
import type { Redis } from 'ioredis';
import { scriptSha, type ScriptName } from '../../src/stores/redis/scripts/loader.js';

const SCRIPTS: readonly ScriptName[] = [
  'put', 'get', 'done', 'refresh', 'release', 'peek', 'stats', 'redrive', 'clear', 'maintain',
  'tasks/enqueue', 'tasks/claim', 'tasks/settle', 'tasks/cancel', 'tasks/read', 'tasks/schedule_claim',
];
const BY_SHA = new Map(SCRIPTS.map((name) => [scriptSha(name), name]));

/**
 * The script an EVALSHA or EVAL call runs, from its arguments: the SHA, or the first line
 * of the script's text (`-- visq <version> <name>`).
 */
export function scriptOf(args: readonly unknown[]): ScriptName | undefined {
  const [first] = args;
  if (typeof first !== 'string') return undefined;
  return BY_SHA.get(first) ?? (/^-- visq \S+ (\S+)\n/.exec(first)?.[1] as ScriptName | undefined);
}

/** Whether one of the string arguments of a call includes `text`. */
export function mentions(args: readonly unknown[], text: string): boolean {
  return args.some((a) => typeof a === 'string' && a.includes(text));
}

/** A client that sends some scripts twice, and counts how many it sent twice, per script. */
export interface Resending {
  readonly redis: Redis;
  readonly resent: Map<ScriptName | undefined, number>;
}

/**
 * `redis`, except that the script calls (EVALSHA, and EVAL after NOSCRIPT) that `twice`
 * picks are sent twice, one after the other; the caller gets the second answer.
 */
export function resending(redis: Redis, twice: (script: ScriptName | undefined, args: readonly unknown[]) => boolean): Resending {
  const resent = new Map<ScriptName | undefined, number>();
  const proxy = new Proxy(redis, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if ((property !== 'evalsha' && property !== 'eval') || typeof value !== 'function') return value;
      const send = value as (...args: unknown[]) => Promise<unknown>;
      return async (...args: unknown[]) => {
        const script = scriptOf(args);
        if (!twice(script, args)) return send.apply(target, args);
        await send.apply(target, args);
        resent.set(script, (resent.get(script) ?? 0) + 1);
        return send.apply(target, args);
      };
    },
  });
  return { redis: proxy, resent };
}
