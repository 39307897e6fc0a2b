/** The help texts of `visq` and its commands. docs/cli.md says the same at more length. */

export type CommandName = 'worker' | 'stats' | 'peek' | 'dead' | 'inspect' | 'forward' | 'serve';

const STORE_OPTIONS = `  --redis-url <url>    Redis to use (default: $REDIS_URL, else redis://127.0.0.1:6379)
  --pg-url <url>       PostgreSQL to use instead, a postgres:// URL (default: $VISQ_PG_URL)
  --pg-schema <name>   schema of visq's tables in PostgreSQL (default: visq)
  --prefix <prefix>    key prefix of the queues (default: visq)
  --json               print JSON instead of a table
  -h, --help           show this help`;

const EXIT_CODES = `Exit codes:
  0    success
  1    operational error (item not found, module without an app, store error)
  2    cannot connect to the store (Redis or PostgreSQL)
  64   usage error (unknown command, bad option or argument)
  130  a second SIGINT while a worker or serve stops (143: a second SIGTERM);
       forward stopped by SIGINT (143: SIGTERM) before the source was drained`;

export const MAIN_USAGE = `Usage: visq <command> [arguments] [options]

Task workers, queue inspection and a dashboard for visq, the SQS-style queue on Redis
or PostgreSQL.

Commands:
  worker --module <path>    run a worker for the Visq app that a module exports
  stats [queue]             counts of one queue, or of every queue under the prefix
  peek <queue> [n]          the next n visible items of a queue (default 10)
  dead <queue>              the dead letters of a queue; --redrive moves them back
  inspect <queue> <id>      one item, by item id or task id: state, deliveries, times
  forward --from <url> --to <url> --queue <name>
                            move a queue's items to another Redis, at least once
  serve [--port 9464]       the dashboard and a Prometheus /metrics endpoint

Options of stats, peek, dead, inspect and serve:
${STORE_OPTIONS}

Other options:
  -V, --version      print the version

Run \`visq <command> --help\` (or \`visq help <command>\`) for a command's options.

${EXIT_CODES}`;

export const COMMAND_USAGE: Record<CommandName, string> = {
  worker: `Usage: visq worker --module <path> [options]

Imports <path> (relative to the current directory; .js or .mjs, or .ts when visq runs
under tsx: \`NODE_OPTIONS='--import tsx' visq worker --module ./tasks.ts\`), takes the
Visq app it exports as \`default\` or as \`app\`, and runs a worker for it until SIGINT or
SIGTERM (a graceful stop: running tasks finish, fetched ones go back to their queue) or
until its lifetime ends; then exits 0. A second SIGINT exits at once.

The module owns the store it passes to \`new Visq(...)\` (a Redis connection or a
PostgresStore), so worker takes no --redis-url or --pg-url: read REDIS_URL (VISQ_PG_URL)
in the module.

Options:
  --module <path>            the module that exports the app (required)
  --queues <a,b,...>         queues to serve (default: every queue of a registered task)
  --concurrency <n>          tasks run at once (default 10)
  --prefetch <n>             tasks held at most, running or fetched ahead (default: concurrency)
  --lifetime <seconds>       stop by itself after this many seconds
  --max-tasks <n>            stop by itself after this many runs (takes no more, finishes them)
  --machine <n> --of <m>     serve only the queues of machine n (1 to m) of m: a queue
                             belongs to machine (FNV-1a 32 of its name mod m) + 1
  --timeout <seconds>        default run time limit of tasks without their own (default 0: none)
  --shutdown-timeout <secs>  how long a stop waits for running tasks (default 30)
  --json                     print events as JSON lines
  -q, --quiet                print nothing but errors
  -h, --help                 show this help

Prints one line per event: ready, started, done, failed, dead, stopping, stopped.

${EXIT_CODES}`,

  stats: `Usage: visq stats [queue] [options]

Counts of a queue: ready, delayed, inflight, dead, and the running totals expired and
dropped. Without a queue, every queue under the prefix that holds or held items.

Options:
${STORE_OPTIONS}

${EXIT_CODES}`,

  peek: `Usage: visq peek <queue> [n] [options]

The next n (1 to 1000, default 10) visible items of a queue in delivery order, by id,
without touching them. Delayed and in-flight items are not shown (see \`visq inspect\`).

Options:
${STORE_OPTIONS}

${EXIT_CODES}`,

  dead: `Usage: visq dead <queue> [--limit <n>] [options]
       visq dead <queue> --redrive [--limit <n>] [options]

Shows the dead letters of a queue (the first --limit, 1 to 1000, default 10), or with
--redrive moves them (up to --limit, default all) back to the queue with fresh attempts
and prints how many moved.

Options:
  --redrive          move dead letters back to the queue
  --limit <n>        how many to show or move
${STORE_OPTIONS}

${EXIT_CODES}`,

  forward: `Usage: visq forward --from <url> --to <url> --queue <name> [options]

Moves the items of a queue from one Redis to another, at least once: each batch is read
from the source under a lease, put to the target, then done on the source, so a
forwarder that dies duplicates at most the batch under way and never loses it. Items
arrive in the source's delivery order as new items (priority 0, fresh attempts).
Delayed and in-flight items stay until they become visible. Without --follow it stops
once the source has nothing visible; SIGINT or SIGTERM stops it after the batch under
way. Progress goes to stderr about once a second, the outcome to stdout.

Options:
  --from <url>           the source Redis, a redis:// or rediss:// URL (required)
  --to <url>             the target Redis (required)
  --queue <name>         the queue to move (required)
  --prefix <prefix>      key prefix on the source (default: visq)
  --to-prefix <prefix>   key prefix on the target (default: --prefix)
  --dead                 also move the dead letters into the target's dead-letter queue
  --follow               keep going: wait for new items until SIGINT or SIGTERM
  --rate <n>             move at most n items per second
  --batch <n>            items per read and put, 1 to 1000 (default 100)
  --vis-timeout <secs>   lease on a batch while it is copied (default 30)
  --json                 print the outcome as JSON, progress as JSON lines
  -q, --quiet            print nothing but the outcome and errors
  -h, --help             show this help

${EXIT_CODES}`,

  inspect: `Usage: visq inspect <queue> <id> [options]

Finds one item in a queue or its dead-letter queue by its id (in a task queue, a task's
item id is its task id): its state (ready, delayed,
inflight, dead), deliveries, priority, when it becomes visible or its lease ends, its
lease, and the item; for a task queue's item also the task, its status and the runs
started (attempt). Scans the queue: O(queue size), never blocking the store. Exits 1 when
no item has the id, saying what became of the task when the id is a task's.

Options:
${STORE_OPTIONS}

${EXIT_CODES}`,

  serve: `Usage: visq serve [--port <n>] [--host <address>] [--token <token>] [options]

Serves a web dashboard of the queues under the prefix (live counts and rates, the next
ready items, dead letters with redrive and purge, inspect by item id) at /, its JSON API
at /api/, and every queue and task metric in the Prometheus text format at /metrics,
until SIGINT or SIGTERM; then exits 0. Reads are open to whoever reaches the server;
redrive and purge need the token. Without a token the dashboard is read-only.

Options:
  --port <n>            TCP port, 0 for any free one (default 9464)
  --host <address>      address to listen on (default 127.0.0.1, this machine only).
                        On a loopback address only loopback Host names are answered
  --token <token>       enables the actions; POSTs must send Authorization: Bearer
                        <token>. 16 to 1024 characters (default: $VISQ_DASHBOARD_TOKEN;
                        prefer it: a command line is visible to other users in ps)
  --queues <a,b,...>    show only these queues (default: every queue under the prefix)
${STORE_OPTIONS.replace('print JSON instead of a table', 'print events as JSON lines')}

See docs/observability.md for the metrics and the security model.

${EXIT_CODES}`,
};
