// A CommonJS consumer: require('visq') loads the ES module on a Node with require(esm)
// (20.19+, 22.12+); on an older one Node refuses with ERR_REQUIRE_ESM. Prints one JSON line.
try {
  const visq = require('visq');
  const queue = new visq.DataQueue(new visq.MemoryStore(), 'consumer-cjs');
  queue
    .putData(['a'])
    .then(() => queue.getData(1))
    .then(async (items) => {
      await queue.close();
      console.log(JSON.stringify({ loaded: true, version: visq.VERSION, items: [...items.values()] }));
    });
} catch (error) {
  console.log(JSON.stringify({ loaded: false, code: error.code, message: error.message }));
}
