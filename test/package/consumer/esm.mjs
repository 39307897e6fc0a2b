// An ESM consumer of the installed package: a put/get/done on a DataQueue and one task
// run by a worker, on the Redis at REDIS_URL under VISQ_PREFIX. Prints one JSON line.
import { Redis } from 'ioredis';
import { DataQueue, VERSION, Visq } from 'visq';

const redis = new Redis(process.env.REDIS_URL);
const prefix = process.env.VISQ_PREFIX;

const queue = new DataQueue(redis, 'consumer-esm', { prefix, visTimeout: 30 });
const ids = await queue.putData([{ n: 1 }, { n: 2 }]);
const leased = await queue.getData(2);
const done = await queue.doneData(leased);
// one item left behind for `visq stats` and `visq serve` to show
await queue.putData([{ n: 3 }]);
await queue.close();

const app = new Visq({ redis, prefix });
const add = app.task('add', async (a, b) => a + b, { saveResults: 60 });
const worker = app.worker({ concurrency: 2 });
const enqueued = await add.execute([2, 3]);
const finished = await enqueued.wait(10);
const result = await enqueued.result();
await worker.close();
await app.close();
await redis.quit();

console.log(JSON.stringify({ version: VERSION, put: ids.length, got: [...leased.values()], done, finished, result }));
