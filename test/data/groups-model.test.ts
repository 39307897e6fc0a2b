/**
 * Model-based property test of ordered groups (docs/groups.md): random sequences of
 * grouped and plain puts, reads (leased and at-most-once), done, release, fail, redrive
 * and clock moves run against the store with a frozen clock, and a reference model of
 * each group checks every read:
 *   - no group ever has two holders: a read delivers an item of a group only when no
 *     live lease of another read holds an item of that group;
 *   - order per group holds across retries, dead letters and redrive: an item is
 *     delivered only when every item of its group put before it has left the group
 *     (done, dead-lettered, dropped, read at most once) or comes before it in the read;
 *   - nothing is lost: at the end every item put is done, read at most once, dead or
 *     dropped, and the store has nothing waiting or out.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataQueue } from '../../src/index.js';
import { useStore } from '../harness/context.js';

const ctx = useStore();
const START_MS = 1_700_000_000_000;
const GROUPS = ['a', 'b', 'c'];
const LEASE_MS = 100;

interface Payload {
  readonly n: number;
  readonly g: string | null;
}

type Command =
  | { readonly op: 'put'; readonly groups: readonly (string | null)[] }
  | { readonly op: 'get'; readonly count: number; readonly leased: boolean }
  | { readonly op: 'done' | 'release' | 'fail' | 'keep'; readonly picks: readonly number[]; readonly delayMs: number }
  | { readonly op: 'refresh'; readonly picks: readonly number[]; readonly ms: number }
  | { readonly op: 'redrive' }
  | { readonly op: 'wait'; readonly ms: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('put' as const),
      groups: fc.array(fc.oneof(fc.constantFrom(...GROUPS), fc.constant(null)), { minLength: 1, maxLength: 6 }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc
      .record({
        op: fc.constant('get' as const),
        // mostly short reads, so that head runs are often cut and the rest of a group waits
        count: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 2 }) }, { weight: 1, arbitrary: fc.integer({ min: 3, max: 8 }) }),
        leased: fc.boolean(),
      })
      .map(
      (c) => ({ ...c, leased: c.leased || c.count % 3 !== 0 }),
    ),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constantFrom('done' as const, 'release' as const, 'fail' as const, 'keep' as const),
      picks: fc.array(fc.nat(9), { minLength: 1, maxLength: 4 }),
      // released items come back at once or after a delay, holding their group meanwhile
      delayMs: fc.constantFrom(0, 0, 50),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('refresh' as const),
      picks: fc.array(fc.nat(9), { minLength: 1, maxLength: 3 }),
      ms: fc.constantFrom(50, 100, 200),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'redrive' as const }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('wait' as const), ms: fc.constantFrom(1, 30, 99, 100, 101, 250) }) },
);

interface Scenario {
  readonly onDead: 'skip' | 'block';
  readonly attempts: number;
  readonly commands: readonly Command[];
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  onDead: fc.constantFrom('skip' as const, 'block' as const),
  attempts: fc.integer({ min: 1, max: 3 }),
  commands: fc.array(command, { minLength: 1, maxLength: 60 }),
});

interface Held {
  readonly lease: string;
  readonly n: number;
  readonly g: string | null;
  readonly read: number;
  deadline: number;
  settled: boolean;
}

let run = 0;

async function runScenario({ onDead, attempts, commands }: Scenario): Promise<void> {
  run += 1;
  let now = START_MS;
  ctx.freeze(now);
  const queue = new DataQueue<Payload>(ctx.store, `model-${run}`, {
    prefix: ctx.prefix,
    visTimeout: LEASE_MS / 1000,
    attempts,
    useDead: true,
    groups: { onDead },
  });
  try {
    let next = 0;
    let reads = 0;
    /** Per group, the item numbers that have not left it, in put order. */
    const members = new Map<string, number[]>();
    const groupOf = new Map<number, string | null>();
    const leases: Held[] = [];
    const gone = new Set<number>();
    const dead = new Set<number>();

    const leave = (n: number): void => {
      const g = groupOf.get(n);
      if (g === null || g === undefined) return;
      const list = members.get(g) ?? [];
      const at = list.indexOf(n);
      if (at >= 0) list.splice(at, 1);
    };
    const rejoin = (n: number): void => {
      const g = groupOf.get(n);
      if (g === null || g === undefined) return;
      const list = members.get(g) ?? [];
      if (!list.includes(n)) {
        list.push(n);
        list.sort((x, y) => x - y);
      }
      members.set(g, list);
    };
    /** Brings the model's view of dead letters up to date (leases that ran out of attempts). */
    const syncDead = async (): Promise<void> => {
      for (const item of (await queue.dead.peekData(1000)).values()) {
        if (!dead.has(item.n)) {
          dead.add(item.n);
          leave(item.n);
        }
      }
    };

    for (const cmd of commands) {
      switch (cmd.op) {
        case 'put': {
          for (const g of cmd.groups) {
            const n = next++;
            groupOf.set(n, g);
            if (g !== null) members.set(g, [...(members.get(g) ?? []), n]);
            const item = { n, g };
            await (g === null ? queue.putData([item]) : queue.putData([item], { group: g }));
          }
          break;
        }
        case 'get': {
          // dead letters made by expiries show once the queue has been brought up to date
          const deliveries = await queue.getDeliveries(cmd.count, { visTimeout: cmd.leased ? LEASE_MS / 1000 : 0 });
          await syncDead();
          reads += 1;
          const seenInRead = new Set<number>();
          for (const d of deliveries) {
            const { n, g } = d.item;
            if (g !== null) {
              // no second holder
              const others = leases.filter((h) => h.g === g && !h.settled && h.deadline > now && h.read !== reads);
              expect(others.map((h) => h.n), `group ${g} held elsewhere when ${n} was read`).toEqual([]);
              // order: everything of the group before n has left it or came earlier in this read
              const before = (members.get(g) ?? []).filter((m) => m < n && !seenInRead.has(m));
              expect(before, `group ${g}: ${n} delivered before ${before.join()}`).toEqual([]);
            }
            seenInRead.add(n);
            if (cmd.leased) {
              leases.unshift({ lease: d.lease, n, g, read: reads, deadline: now + LEASE_MS, settled: false });
            } else {
              gone.add(n);
              leave(n);
            }
          }
          break;
        }
        case 'done':
        case 'release':
        case 'fail':
        case 'keep': {
          // repeated picks send a lease twice in one call, which must count once
          const sent = cmd.picks.map((i) => leases[i]).filter((h): h is Held => h !== undefined);
          const picked = [...new Set(sent)];
          if (picked.length === 0) break;
          const live = picked.filter((h) => !h.settled && h.deadline > now);
          if (cmd.op === 'done') {
            expect(await queue.doneData(sent.map((h) => h.lease))).toBe(live.length);
            for (const h of live) {
              gone.add(h.n);
              leave(h.n);
            }
          } else if (cmd.op === 'fail') {
            const ended = await queue.failData(picked.map((h) => h.lease));
            expect(ended.size).toBe(live.length);
            for (const h of live) {
              dead.add(h.n);
              leave(h.n);
            }
          } else {
            const result = await queue.releaseData(
              picked.map((h) => h.lease),
              { countDelivery: cmd.op === 'release', delay: cmd.delayMs / 1000 },
            );
            expect(result.requeued.size + result.exhausted.size).toBe(live.length);
          }
          for (const h of live) h.settled = true;
          await syncDead();
          break;
        }
        case 'refresh': {
          const picked = [...new Set(cmd.picks.map((i) => leases[i]).filter((h): h is Held => h !== undefined))];
          if (picked.length === 0) break;
          const live = picked.filter((h) => !h.settled && h.deadline > now);
          const refreshed = await queue.refreshData(
            picked.map((h) => h.lease),
            { visTimeout: cmd.ms / 1000 },
          );
          expect(refreshed.size).toBe(live.length);
          for (const h of live) h.deadline = now + cmd.ms;
          break;
        }
        case 'redrive': {
          await syncDead();
          const moved = await queue.redrive();
          expect(moved).toBe(dead.size);
          for (const n of dead) rejoin(n);
          dead.clear();
          break;
        }
        case 'wait': {
          now += cmd.ms;
          ctx.freeze(now);
          break;
        }
      }
    }

    // drain: every lease runs out, dead letters come back until the attempts allow done
    for (let round = 0; round < 50; round += 1) {
      now += LEASE_MS + 1;
      ctx.freeze(now);
      await syncDead();
      if (dead.size > 0) {
        await queue.redrive();
        for (const n of dead) rejoin(n);
        dead.clear();
      }
      const got = await queue.getDeliveries(1000);
      await syncDead();
      // a refreshed lease may outlast a round: drain until nothing is out either
      const left = got.length === 0 ? await queue.stats() : undefined;
      if (left && left.dead === 0 && left.inflight === 0) break;
      expect(await queue.doneData(got.map((d) => d.lease))).toBe(got.length);
      for (const d of got) {
        gone.add(d.item.n);
        leave(d.item.n);
      }
    }
    const stats = await queue.stats();
    expect(stats).toMatchObject({ ready: 0, delayed: 0, inflight: 0, dead: 0 });
    expect(gone.size).toBe(next);
    expect(await queue.groups()).toEqual([]);
  } finally {
    await queue.clear();
    await queue.close();
  }
}

/** Scenarios worth keeping: a retried head must come back before the rest of its group. */
const regressions: [Scenario][] = [
  [
    {
      onDead: 'skip',
      attempts: 2,
      commands: [
        { op: 'put', groups: ['a', 'a'] },
        { op: 'get', count: 1, leased: true },
        { op: 'keep', picks: [0], delayMs: 0 },
        { op: 'get', count: 5, leased: true },
      ],
    },
  ],
];

describe('ordered groups against the model', () => {
  it('never has two holders of a group and keeps order per group across retries', async () => {
    await fc.assert(fc.asyncProperty(scenario, runScenario), { numRuns: 400, examples: regressions });
  }, 240_000);
});
