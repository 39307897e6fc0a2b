/**
 * The end-of-run checks of a chaos run: from the ledgers of every process, what the
 * producer knows it put, the dead letters drained at the end and the task records,
 * decide for every item whether it was done exactly once by the holder of its current
 * lease or dead-lettered after its deliveries ran out — and list every way it was not.
 *
 * What a ledger cannot see, and how it is handled:
 * - a delivery whose reply never reached its reader (the reader was killed, or its
 *   connection dropped and the client resent the read): a gap in the item's delivery
 *   numbers. It is allowed, as the queue counts it (docs/guarantees.md), and counted.
 * - a done whose answer was lost (a `try` line without its `done` line), or answered 0
 *   after the connection dropped while it was out (ioredis sends such calls again after
 *   reconnecting, by default, and the repeat of a done that worked finds its lease gone):
 *   it took effect if and only if the item was not delivered again and is not a dead
 *   letter, since the run ends only once the queue holds nothing (checked by the caller).
 */
import type { TaskRecord } from '../../src/index.js';
import type { ChaosItem, LedgerLine } from './ledger.js';

/** What the producer knows about its data puts. */
export interface DataFacts {
  readonly attempts: number;
  /** Item id → producer key, for every putData that returned ids. */
  readonly put: ReadonlyMap<string, string>;
  /** Keys of puts refused with StoreFullError: certainly not written. */
  readonly refusedKeys: ReadonlySet<string>;
  /** Keys of puts that failed otherwise: written or not, nobody knows. */
  readonly uncertainKeys: ReadonlySet<string>;
  readonly poisonKeys: ReadonlySet<string>;
  /** The dead letters drained at the end, by id. */
  readonly dead: ReadonlyMap<string, unknown>;
}

/** One task the producer executed successfully. */
export interface ExecutedTask {
  readonly k: string;
  readonly poison: boolean;
  /** At most once (visTimeout 0). */
  readonly once: boolean;
}

/** What the producer knows about its tasks, and what Redis says at the end. */
export interface TaskFacts {
  readonly attempts: number;
  readonly executed: ReadonlyMap<string, ExecutedTask>;
  readonly refusedKeys: ReadonlySet<string>;
  readonly uncertainKeys: ReadonlySet<string>;
  /** The status record of every executed task at the end. */
  readonly records: ReadonlyMap<string, TaskRecord | undefined>;
  /** Task id → producer key of every task message drained from the dead letters. */
  readonly dead: ReadonlyMap<string, string>;
}

export interface DataVerdict {
  /** Distinct items seen: put, or found in deliveries or dead letters. */
  readonly items: number;
  /** Items whose put returned their id. */
  readonly put: number;
  /** Items whose id only a delivery or a dead letter revealed (a put whose reply was lost). */
  readonly discovered: number;
  /** Producer keys stored twice (the client resent a put whose reply was lost). */
  readonly resentPuts: number;
  readonly refusedPuts: number;
  readonly uncertainPuts: number;
  readonly deliveries: number;
  /** Deliveries no reader logged (their replies were lost), inferred from gaps. */
  readonly unobservedDeliveries: number;
  readonly done: number;
  /** Of `done`: dones whose answer was lost, settled by the end state. */
  readonly doneUnanswered: number;
  /** doneData calls that found their lease stale (answered 0). */
  readonly staleDones: number;
  /** doneData calls answered 0 after a reconnect: possibly a repeat of a call that finished the item. */
  readonly resentZeros: number;
  readonly dead: number;
  /** Of `dead`: items whose last delivery no reader logged. */
  readonly deadLastUnobserved: number;
  readonly lost: number;
  readonly maxDelivery: number;
  /** Sum over the items of their deliveries, known from how each ended: a done item's last, a dead one's attempts. */
  readonly impliedDeliveries: number;
  readonly violations: string[];
}

export interface TaskVerdict {
  readonly executed: number;
  readonly refused: number;
  /** Of `refused`: executes refused as full whose task still ran or was dead-lettered (must be 0). */
  readonly refusedButRun: number;
  readonly uncertain: number;
  readonly runs: number;
  readonly done: number;
  readonly failed: number;
  readonly deadLetters: number;
  readonly maxAttempt: number;
  /** Most runs of one at-most-once task (must be ≤ 1). */
  readonly maxOnceRuns: number;
  readonly lost: number;
  readonly violations: string[];
}

interface ItemHistory {
  k: string | undefined;
  readonly deliveries: number[];
  readonly tries: Set<number>;
  readonly answers: { d: number; r: number }[];
}

/** Records a violation, keeping the list short enough to print. */
class Violations {
  readonly list: string[] = [];
  #more = 0;

  add(message: string): void {
    if (this.list.length < 25) this.list.push(message);
    else this.#more += 1;
  }

  done(): string[] {
    return this.#more > 0 ? [...this.list, `…and ${this.#more} more`] : this.list;
  }
}

function keyOf(item: unknown): string | undefined {
  return typeof item === 'object' && item !== null && typeof (item as ChaosItem).k === 'string' ? (item as ChaosItem).k : undefined;
}

export function verifyData(lines: readonly LedgerLine[], facts: DataFacts): DataVerdict {
  const violations = new Violations();
  const histories = new Map<string, ItemHistory>();
  const history = (id: string): ItemHistory => {
    let found = histories.get(id);
    if (!found) {
      found = { k: undefined, deliveries: [], tries: new Set(), answers: [] };
      histories.set(id, found);
    }
    return found;
  };
  let staleDones = 0;
  let resentZeros = 0;
  for (const line of lines) {
    if (line.e === 'got') {
      const h = history(line.id);
      h.k = line.k;
      h.deliveries.push(line.d);
      if (!line.intact) violations.add(`${line.id}: delivery ${line.d} to ${line.p} carried a damaged payload`);
    } else if (line.e === 'try') {
      history(line.id).tries.add(line.d);
    } else if (line.e === 'done') {
      if (line.r === 0 && line.reconnected) {
        resentZeros += 1;
        continue;
      }
      history(line.id).answers.push({ d: line.d, r: line.r });
      if (line.r === 0) staleDones += 1;
    }
  }
  for (const [id, k] of facts.put) history(id).k = k;
  for (const [id, item] of facts.dead) {
    const h = history(id);
    h.k ??= keyOf(item);
  }

  const idsByKey = new Map<string, number>();
  let deliveries = 0;
  let unobserved = 0;
  let done = 0;
  let doneUnanswered = 0;
  let dead = 0;
  let deadLastUnobserved = 0;
  let lost = 0;
  let maxDelivery = 0;
  let impliedDeliveries = 0;
  for (const [id, h] of histories) {
    if (h.k !== undefined) {
      idsByKey.set(h.k, (idsByKey.get(h.k) ?? 0) + 1);
      if (facts.refusedKeys.has(h.k)) violations.add(`${id}: its put (${h.k}) was refused as full, yet it was stored`);
    }
    const numbers = [...h.deliveries].sort((a, b) => a - b);
    const last = numbers.at(-1) ?? 0;
    deliveries += numbers.length;
    unobserved += last - new Set(numbers).size;
    maxDelivery = Math.max(maxDelivery, last);
    for (let i = 1; i < numbers.length; i += 1) {
      if (numbers[i] === numbers[i - 1]) violations.add(`${id}: delivery ${numbers[i]} was handed out twice`);
    }
    if (last > facts.attempts) violations.add(`${id}: delivered ${last} times, attempts is ${facts.attempts}`);

    const finished = h.answers.filter((a) => a.r === 1);
    if (finished.length > 1) violations.add(`${id}: done ${finished.length} times`);
    const [first] = finished;
    if (first && first.d !== last) violations.add(`${id}: done at delivery ${first.d}, then delivered again (${last})`);
    const poison = h.k !== undefined && facts.poisonKeys.has(h.k);

    if (facts.dead.has(id)) {
      dead += 1;
      if (finished.length > 0) violations.add(`${id}: done by a lease holder and also dead-lettered`);
      if (last < facts.attempts) deadLastUnobserved += 1;
      impliedDeliveries += facts.attempts;
      continue;
    }
    if (poison) violations.add(`${id}: a poison item (never done by its readers) is not among the dead letters`);
    if (finished.length > 0) {
      done += 1;
      impliedDeliveries += last;
      continue;
    }
    const answered = new Set(h.answers.map((a) => a.d));
    if (h.tries.has(last) && !answered.has(last)) {
      // its last done went out and the item neither came back nor died: that done took effect
      done += 1;
      doneUnanswered += 1;
      impliedDeliveries += last;
      continue;
    }
    lost += 1;
    violations.add(
      `${id} (${h.k ?? 'unknown key'}): lost — deliveries [${numbers.join(', ')}], not done, not dead-lettered`,
    );
  }
  let resentPuts = 0;
  for (const count of idsByKey.values()) if (count > 1) resentPuts += 1;
  const put = facts.put.size;
  return {
    items: histories.size,
    put,
    discovered: histories.size - put,
    resentPuts,
    refusedPuts: facts.refusedKeys.size,
    uncertainPuts: facts.uncertainKeys.size,
    deliveries,
    unobservedDeliveries: unobserved,
    done,
    doneUnanswered,
    staleDones,
    resentZeros,
    dead,
    deadLastUnobserved,
    lost,
    maxDelivery,
    impliedDeliveries,
    violations: violations.done(),
  };
}

export function verifyTasks(lines: readonly LedgerLine[], facts: TaskFacts): TaskVerdict {
  const violations = new Violations();
  const runs = new Map<string, { a: number; ok: boolean; k: string }[]>();
  let runCount = 0;
  for (const line of lines) {
    if (line.e === 'run') {
      runCount += 1;
      const list = runs.get(line.task) ?? [];
      list.push({ a: line.a, ok: false, k: line.k });
      runs.set(line.task, list);
    } else if (line.e === 'ok') {
      const run = runs.get(line.task)?.find((r) => r.a === line.a);
      if (run) run.ok = true;
      else violations.add(`task ${line.task}: attempt ${line.a} returned without having started`);
    }
  }
  let maxAttempt = 0;
  let maxOnceRuns = 0;
  const refusedButRun = new Set<string>();
  for (const [taskId, list] of runs) {
    const attempts = list.map((r) => r.a).sort((a, b) => a - b);
    maxAttempt = Math.max(maxAttempt, attempts.at(-1) ?? 0);
    for (let i = 1; i < attempts.length; i += 1) {
      if (attempts[i] === attempts[i - 1]) violations.add(`task ${taskId}: attempt ${attempts[i]} started twice`);
    }
    if ((attempts.at(-1) ?? 0) > facts.attempts) violations.add(`task ${taskId}: attempt ${attempts.at(-1)} of ${facts.attempts}`);
    const known = facts.executed.get(taskId);
    const k = known?.k ?? list[0]?.k ?? '';
    // an execute refused as full wrote nothing, so its task cannot run; an execute whose
    // item was put resolves even if its record was refused (test/chaos/full.test.ts)
    if (facts.refusedKeys.has(k)) {
      refusedButRun.add(k);
      violations.add(`task ${taskId} (${k}) ran, but its execute was refused as full`);
    } else if (!known && !facts.uncertainKeys.has(k)) violations.add(`task ${taskId} (${k}) ran but was never executed`);
  }

  let done = 0;
  let failed = 0;
  let lost = 0;
  for (const [taskId, task] of facts.executed) {
    const list = runs.get(taskId) ?? [];
    const record = facts.records.get(taskId);
    const ok = list.some((r) => r.ok);
    if (task.once) {
      maxOnceRuns = Math.max(maxOnceRuns, list.length);
      if (list.length > 1) violations.add(`at-most-once task ${taskId} ran ${list.length} times`);
      if (record?.state === 'done') {
        done += 1;
        if (!ok) violations.add(`at-most-once task ${taskId} is done without a finished run`);
      }
      continue;
    }
    switch (record?.state) {
      case 'done':
        done += 1;
        if (!ok) violations.add(`task ${taskId} is done without a finished run`);
        if (task.poison) violations.add(`task ${taskId} is poison (it always throws) yet done`);
        break;
      case 'failed':
        failed += 1;
        if (record.attempt !== facts.attempts) {
          violations.add(`task ${taskId} failed after ${record.attempt} runs, attempts is ${facts.attempts}`);
        }
        if (!facts.dead.has(taskId)) violations.add(`task ${taskId} failed but is not among the dead letters`);
        break;
      default:
        lost += 1;
        violations.add(`task ${taskId} (${task.k}) ended ${record?.state ?? 'without a record'}: neither done nor failed`);
    }
  }
  for (const [taskId, k] of facts.dead) {
    const known = facts.executed.get(taskId);
    if (known) {
      if (facts.records.get(taskId)?.state !== 'failed') violations.add(`dead letter ${taskId} is not a failed task`);
    } else if (facts.refusedKeys.has(k)) {
      refusedButRun.add(k);
      violations.add(`dead letter ${taskId} (${k}) is a task whose execute was refused as full`);
    } else if (!facts.uncertainKeys.has(k)) {
      violations.add(`dead letter ${taskId} (${k}) is not a task the producer executed`);
    }
  }
  return {
    executed: facts.executed.size,
    refused: facts.refusedKeys.size,
    refusedButRun: refusedButRun.size,
    uncertain: facts.uncertainKeys.size,
    runs: runCount,
    done,
    failed,
    deadLetters: facts.dead.size,
    maxAttempt,
    maxOnceRuns,
    lost,
    violations: violations.done(),
  };
}
