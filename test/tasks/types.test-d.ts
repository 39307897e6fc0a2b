import { describe, expectTypeOf, it } from 'vitest';
import {
  taskContext,
  Visq,
  type DeadInfo,
  type DoneInfo,
  type EnqueuedTask,
  type ExecuteOptions,
  type FailedInfo,
  type SqlClient,
  type RunInfo,
  type Task,
  type TaskContext,
  type TaskRecord,
  type TaskStatus,
  type Worker,
} from '../../src/index.js';

declare const app: Visq;

describe('Task<A, R>', () => {
  it('takes its argument tuple and result from the function', () => {
    const add = app.task('add', async (a: number, b: number) => a + b);
    expectTypeOf(add).toEqualTypeOf<Task<[a: number, b: number], number>>();
    expectTypeOf(add.execute).parameter(0).toEqualTypeOf<[a: number, b: number]>();
    expectTypeOf(add.execute([1, 2])).toEqualTypeOf<Promise<EnqueuedTask<number>>>();
    expectTypeOf(add.executeMany([[1, 2]])).toEqualTypeOf<Promise<EnqueuedTask<number>[]>>();

    // @ts-expect-error: a string where a number belongs
    void add.execute(['1', 2]);
    // @ts-expect-error: an argument missing
    void add.execute([1]);
    // @ts-expect-error: arguments are a tuple, not a spread
    void add.execute(1, 2);
  });

  it('takes the caller\'s transaction as `db`: anything with query(text, values)', () => {
    const add = app.task('add', async (a: number, b: number) => a + b);
    expectTypeOf<ExecuteOptions['db']>().toEqualTypeOf<SqlClient | undefined>();
    const client = { query: async (_text: string, _values: unknown[]) => ({ rows: [] as unknown[] }) };
    void add.execute([1, 2], { db: client });
    void add.executeMany([[1, 2]], { db: client });
    // @ts-expect-error: a connection string is no client
    void add.execute([1, 2], { db: 'postgres://localhost/db' });
  });

  it('unwraps the promise of an async function, and keeps a plain return type', () => {
    expectTypeOf(app.task('sync', (s: string) => s.length)).toEqualTypeOf<Task<[s: string], number>>();
    expectTypeOf(app.task('obj', async () => ({ ok: true as const }))).toEqualTypeOf<Task<[], { ok: true }>>();
    expectTypeOf(app.task('none', () => undefined)).toEqualTypeOf<Task<[], undefined>>();
    expectTypeOf(app.task('void', (): void => {})).toEqualTypeOf<Task<[], void>>();
  });

  it('types periodic and cron tasks as taking no arguments', () => {
    expectTypeOf(app.periodicTask('p', () => 1, { every: 60 })).toEqualTypeOf<Task<[], number>>();
    expectTypeOf(app.cronTask('c', async () => 'x', { cron: '* * * * *' })).toEqualTypeOf<Task<[], string>>();
    // @ts-expect-error: `every` is required
    app.periodicTask('p2', () => 1, {});
    // @ts-expect-error: a periodic task's function takes no arguments
    app.periodicTask('p3', (n: number) => n, { every: 1 });
  });

  it('rejects unknown or mistyped options', () => {
    // @ts-expect-error: misspelt option
    app.task('x', () => 1, { atempts: 3 });
    // @ts-expect-error: seconds are numbers
    app.task('y', () => 1, { visTimeout: '5' });
  });

  it('lets the caller type a task looked up by name', () => {
    expectTypeOf(app.getTask('x')).toEqualTypeOf<Task<unknown[], unknown> | undefined>();
    expectTypeOf(app.getTask<[string], boolean>('x')).toEqualTypeOf<Task<[string], boolean> | undefined>();
  });
});

describe('EnqueuedTask<R>', () => {
  it('gives back the result type, or undefined when none is kept', async () => {
    const et = await app.task('add', async (a: number, b: number) => a + b).execute([1, 2]);
    expectTypeOf(et.result()).toEqualTypeOf<Promise<number | undefined>>();
    expectTypeOf(et.wait(1)).toEqualTypeOf<Promise<boolean>>();
    expectTypeOf(et.wait(1, { until: 'started' })).toEqualTypeOf<Promise<boolean>>();
    expectTypeOf(et.status()).toEqualTypeOf<Promise<TaskStatus>>();
    expectTypeOf(et.cancel()).toEqualTypeOf<Promise<boolean>>();
    expectTypeOf(et.record()).toEqualTypeOf<Promise<TaskRecord | undefined>>();
    expectTypeOf(et.id).toEqualTypeOf<string>();
    // @ts-expect-error: not a wait mode
    void et.wait(1, { until: 'finished' });
  });

  it('is typed by the caller when rebuilt from an id', () => {
    expectTypeOf(app.enqueuedTask('id')).toEqualTypeOf<EnqueuedTask<unknown>>();
    expectTypeOf(app.enqueuedTask<string[]>('id').result()).toEqualTypeOf<Promise<string[] | undefined>>();
  });

  it('names every status', () => {
    expectTypeOf<TaskStatus>().toEqualTypeOf<
      'queued' | 'delayed' | 'started' | 'done' | 'failed' | 'cancelled' | 'unknown'
    >();
  });
});

describe('Worker events', () => {
  it('types each listener by its event', () => {
    const worker: Worker = app.worker();
    worker.on('started', (info) => expectTypeOf(info).toEqualTypeOf<RunInfo>());
    worker.on('done', (info) => expectTypeOf(info).toEqualTypeOf<DoneInfo>());
    worker.on('failed', (info) => {
      expectTypeOf(info).toEqualTypeOf<FailedInfo>();
      expectTypeOf(info.error).toEqualTypeOf<Error>();
      expectTypeOf(info.willRetry).toEqualTypeOf<boolean>();
    });
    worker.on('dead', (info) => expectTypeOf(info.deadLettered).toEqualTypeOf<boolean>());
    worker.on('dead', (info) => expectTypeOf(info).toEqualTypeOf<DeadInfo>());
    worker.on('error', (error) => expectTypeOf(error).toEqualTypeOf<Error>());
    worker.on('closed', (...args) => expectTypeOf(args).toEqualTypeOf<[]>());
    expectTypeOf(worker.closed).toEqualTypeOf<Promise<void>>();
    expectTypeOf(worker.close()).toEqualTypeOf<Promise<void>>();
  });
});

describe('taskContext', () => {
  it('is undefined outside a task', () => {
    expectTypeOf(taskContext()).toEqualTypeOf<TaskContext | undefined>();
    expectTypeOf<TaskContext['signal']>().toEqualTypeOf<AbortSignal>();
    expectTypeOf<TaskContext['attempt']>().toEqualTypeOf<number>();
  });
});

describe('@app.task() decorator', () => {
  it('accepts methods of any signature and task options with a name', () => {
    class Mailer {
      @app.task({ attempts: 2, name: 'mailer.send' })
      async send(to: string, body: string): Promise<boolean> {
        return to.length + body.length > 0;
      }

      @app.task()
      static ping(): void {}
    }
    expectTypeOf(new Mailer().send).toEqualTypeOf<(to: string, body: string) => Promise<boolean>>();
    expectTypeOf(Mailer.ping).toEqualTypeOf<() => void>();
  });
});
