// A TypeScript consumer, checked with `tsc --noEmit` under moduleResolution node16 and
// bundler: the published declarations resolve and carry real types (each expected
// error below fails the check if a type has decayed to any).
import { Redis } from 'ioredis';
import { DataQueue, MemoryStore, Visq, VisqRangeError, type Delivery, type QueueStats, type TaskStatus } from 'visq';

interface PageView {
  page: string;
  ms: number;
}

export async function consume(redis: Redis): Promise<number> {
  const queue = new DataQueue<PageView>(redis, 'views', { visTimeout: 30, attempts: 5, useDead: true });
  const ids: string[] = await queue.putData([{ page: '/', ms: 12 }], { priority: 1 });
  const leased: Map<string, PageView> = await queue.getData(10, { wait: 1 });
  const deliveries: Delivery<PageView>[] = await queue.getDeliveries(1);
  const stats: QueueStats = await queue.stats();
  // @ts-expect-error an item of the wrong type
  await queue.putData([{ page: 1 }]);
  await queue.doneData(leased);
  return ids.length + deliveries.length + stats.ready;
}

export async function tasks(): Promise<TaskStatus | undefined> {
  const app = new Visq({ store: new MemoryStore() });
  const add = app.task('add', async (a: number, b: number) => a + b, { saveResults: 60 });
  // @ts-expect-error arguments are typed from the task function
  await add.execute(['1', 2]);
  const enqueued = await add.execute([1, 2]);
  const sum: number | undefined = await enqueued.result();
  void sum;
  const status = await enqueued.status();
  await app.close();
  return status;
}

export function isRangeError(error: unknown): boolean {
  return error instanceof VisqRangeError && error.code.length > 0;
}
