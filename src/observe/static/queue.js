// One queue's page (#/queue/<name>): live counts, charts over the window, totals, tasks
// (sortable, with run-time charts and the latest failures), the inspector, the next ready
// items and a page of dead letters.
import { drawChart } from './chart.js';
import { $, ago, clock, count, duration, el, itemText, markSorted, rate, renderPager, sortableHeader } from './format.js';

/** Ready items shown, and dead letters per page. */
export const SHOWN = 10;
export const DEAD_PAGE = 20;
/** Failures listed (the answer has more, to tell the story of dead letters whose record expired). */
const FAILURES_SHOWN = 10;
/** Task run-time charts drawn at most. */
const TASK_CHARTS = 12;

export const queueView = {
  deadPage: 0,
  taskSort: { key: 'task', order: 'asc' },
  /** The latest answers, to re-render after a sort without a request. */
  tasks: [],
  failures: [],
};

const TOTALS = [
  ['puts', 'items put'],
  ['deliveries', 'deliveries (a redelivery counts again)'],
  ['dones', 'items done'],
  ['expiries', 'lease expiries (redelivered, dead-lettered or dropped)'],
  ['deadLettered', 'moved to dead letters'],
  ['dropped', 'dropped, attempts spent'],
  ['expired', 'dropped, ttl passed'],
  ['emptyReads', 'reads that found nothing'],
];

function card(label, value, field, bad = false) {
  return el(
    'div',
    { className: `card${bad ? ' bad' : ''}`, 'data-field': field },
    el('div', { className: 'label' }, label),
    el('div', { className: 'value' }, value),
  );
}

/** A button that inspects the item `id`. */
function inspectButton(id, inspect) {
  return el('button', { type: 'button', className: 'link', title: 'inspect', onclick: () => inspect(id, true) }, id);
}

function itemRows(items, inspect) {
  return items.map(({ id, item }) =>
    el('tr', { 'data-id': id }, el('td', { className: 'id' }, inspectButton(id, inspect)), el('td', { className: 'name' }, itemText(item))),
  );
}

/** The run time below which about 90% of the runs ended, from the cumulative buckets (seconds; Infinity above the last bound). */
function p90Seconds(runTime) {
  if (runTime.count === 0) return undefined;
  const bucket = runTime.buckets.find((b) => b.count >= runTime.count * 0.9);
  return !bucket || bucket.le === '+Inf' ? Number.POSITIVE_INFINITY : bucket.le;
}

const TASK_SORT = {
  task: (t) => t.task,
  started: (t) => t.started,
  done: (t) => t.done,
  failed: (t) => t.failed,
  retried: (t) => t.retried,
  runs: (t) => t.runTime.count,
  mean: (t) => (t.runTime.count === 0 ? -1 : t.runTime.sumSeconds / t.runTime.count),
  p90: (t) => p90Seconds(t.runTime) ?? -1,
};

function renderTasks() {
  const { key, order } = queueView.taskSort;
  const value = TASK_SORT[key];
  const sorted = [...queueView.tasks].sort((a, b) => {
    const [x, y] = [value(a), value(b)];
    const difference = x < y ? -1 : x > y ? 1 : 0;
    return (order === 'asc' ? 1 : -1) * difference || (a.task < b.task ? -1 : 1);
  });
  $('tasks').tBodies[0].replaceChildren(
    ...sorted.map((t) => {
      const p90 = p90Seconds(t.runTime);
      return el(
        'tr',
        { 'data-task': t.task },
        el('td', { className: 'name' }, t.task),
        el('td', { 'data-field': 'started' }, count(t.started)),
        el('td', { 'data-field': 'done' }, count(t.done)),
        el('td', { 'data-field': 'failed', className: t.failed > 0 ? 'dead-some' : '' }, count(t.failed)),
        el('td', { 'data-field': 'retried' }, count(t.retried)),
        el('td', { 'data-field': 'runs' }, count(t.runTime.count)),
        el('td', { 'data-field': 'mean' }, t.runTime.count === 0 ? '–' : duration(t.runTime.sumSeconds / t.runTime.count)),
        el('td', { 'data-field': 'p90' }, p90 === undefined ? '–' : p90 === Number.POSITIVE_INFINITY ? '> 60 s' : duration(p90)),
      );
    }),
  );
  markSorted($('tasks'), queueView.taskSort);
}

function renderFailures(all, inspect) {
  const failures = all.slice(0, FAILURES_SHOWN);
  $('failures-count').textContent = failures.length ? `(latest ${failures.length})` : '';
  $('failures').tBodies[0].replaceChildren(
    ...failures.map((f) =>
      el(
        'tr',
        { 'data-task-id': f.taskId },
        el('td', { className: 'when', title: new Date(f.at).toISOString() }, ago(f.at)),
        el('td', { className: 'name task' }, f.task),
        el('td', { className: f.final ? 'dead-some' : '' }, `run ${f.attempt} · ${f.final ? 'failed for good' : 'retried'}`),
        el('td', { className: 'name error' }, f.error || '(no message)'),
        el('td', { className: 'id' }, f.item ? inspectButton(f.item, inspect) : el('span', { title: 'task id' }, f.taskId)),
      ),
    ),
  );
  $('failures').hidden = failures.length === 0;
  $('no-failures').hidden = failures.length > 0;
}

/** Renders the queue's answer: counts, totals, tasks, failures, ready items, the action buttons. */
export function renderQueue(body, { canAct, readOnly, hasToken, inspect }) {
  const s = body.stats;
  const r = body.rates;
  $('queue-name').textContent = body.name;
  $('queue-cards').replaceChildren(
    card('ready', count(s.ready), 'ready'),
    card('delayed', count(s.delayed), 'delayed'),
    card('in flight', count(s.inflight), 'inflight'),
    card('dead', count(s.dead), 'dead', s.dead > 0),
    card('head age', duration(s.headAge), 'headAge'),
    card('puts/s', rate(r?.puts), 'putsRate'),
    card('deliveries/s', rate(r?.deliveries), 'deliveriesRate'),
    card('dones/s', rate(r?.dones), 'donesRate'),
  );
  $('queue-totals').tBodies[0].replaceChildren(
    ...TOTALS.map(([field, label]) => el('tr', {}, el('th', {}, label), el('td', { 'data-field': field }, count(s[field])))),
  );
  queueView.tasks = body.tasks;
  queueView.failures = body.failures;
  $('tasks-section').hidden = body.tasks.length === 0 && body.failures.length === 0;
  renderTasks();
  renderFailures(body.failures, inspect);

  // ordered groups (docs/groups.md): the busiest few, when the queue has any
  const groups = body.groups ?? [];
  $('groups-section').hidden = groups.length === 0;
  $('groups-count').textContent = groups.length > 0 ? `(top ${groups.length})` : '';
  $('groups').tBodies[0].replaceChildren(
    ...groups.map((g) =>
      el(
        'tr',
        { 'data-group': g.group },
        el('td', { className: 'name' }, g.group),
        el('td', {}, g.state),
        el('td', {}, count(g.depth)),
        el('td', {}, count(g.inflight)),
        el('td', {}, duration(g.oldestAge)),
      ),
    ),
  );

  $('ready-count').textContent = s.ready > body.ready.length ? `(first ${body.ready.length} of ${count(s.ready)})` : `(${count(s.ready)})`;
  $('ready-items').tBodies[0].replaceChildren(...itemRows(body.ready, inspect));
  $('no-ready').hidden = body.ready.length > 0;
  $('ready-items').hidden = body.ready.length === 0;

  $('redrive').disabled = !canAct || s.dead === 0;
  $('purge').disabled = !canAct || s.dead === 0;
  $('actions-hint').textContent = readOnly
    ? 'Read-only: start the dashboard with a token to allow actions.'
    : hasToken
      ? ''
      : 'Enter the token at the top to allow actions.';
}

/** What the dead letter's task says, or the latest failures when its record expired. */
function deadTaskStory(task) {
  if (task.status !== 'unknown') return { error: task.error, at: Date.parse(task.at) };
  const failure = queueView.failures.find((f) => f.taskId === task.id && f.final);
  return failure ? { error: failure.error, at: failure.at } : { expired: true };
}

/** A page of dead letters: a task queue's with task, error and time; others as items. */
export function renderDead(page, inspect) {
  const tasks = page.items.some((d) => d.task);
  const head = tasks
    ? el('tr', {}, el('th', { className: 'id' }, 'id'), el('th', { className: 'name' }, 'task'), el('th', { className: 'name' }, 'last error'), el('th', { className: 'when' }, 'failed'), el('th', { className: 'name' }, 'arguments'))
    : el('tr', {}, el('th', { className: 'id' }, 'id'), el('th', { className: 'name' }, 'item'));
  $('dead-items').tHead.replaceChildren(head);
  $('dead-items').tBodies[0].replaceChildren(
    ...page.items.map((d) => {
      const id = el('td', { className: 'id' }, inspectButton(d.id, inspect));
      if (!tasks) return el('tr', { 'data-id': d.id }, id, el('td', { className: 'name' }, itemText(d.item)));
      if (!d.task) return el('tr', { 'data-id': d.id }, id, el('td'), el('td'), el('td'), el('td', { className: 'name' }, itemText(d.item)));
      const story = deadTaskStory(d.task);
      const expired = 'the task record has expired (see keepFinished), and the failure is no longer among the latest';
      return el(
        'tr',
        { 'data-id': d.id },
        id,
        el('td', { className: 'name task', 'data-field': 'task' }, d.task.name),
        el('td', { className: 'name error', 'data-field': 'error', title: story.expired ? expired : '' }, story.expired ? '–' : story.error ?? '(no message)'),
        el('td', { className: 'when', 'data-field': 'at', title: story.at ? new Date(story.at).toISOString() : expired }, story.at ? ago(story.at) : '–'),
        el('td', { className: 'name', 'data-field': 'args' }, itemText(d.item.a)),
      );
    }),
  );
  const shown = page.items.length;
  $('dead-count').textContent = `(${count(page.total)})`;
  $('no-dead').hidden = page.total > 0;
  $('dead-items').hidden = shown === 0;
  renderPager($('dead-pager'), page.offset, shown, page.total, 'dead letters', page.reachable);
  if (shown === 0 && page.offset > 0) queueView.deadPage = 0;
}

const RATE_SERIES = [
  ['puts', 'puts'],
  ['deliveries', 'deliveries'],
  ['dones', 'dones'],
  ['expiries', 'lease expiries'],
  ['deadLettered', 'dead-lettered'],
];

function taskFigure(task) {
  const figure = el('figure', { className: 'chart', 'data-task': task }, el('figcaption', {}, `Run time of ${task}`), el('div', { className: 'legend' }));
  const plot = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  plot.setAttribute('class', 'plot');
  figure.append(plot, el('p', { className: 'readout', 'aria-live': 'polite' }));
  return figure;
}

const WINDOWS = { '15m': { ms: 900_000, label: '15 min' }, '1h': { ms: 3_600_000, label: '1 h' }, '24h': { ms: 86_400_000, label: '24 h' } };

/** Draws the charts of the queue's history answer for `window` (`series` null: no samples or no history). */
export function renderHistory(body, window) {
  const series = body.series;
  const interval = body.history.interval;
  const empty = interval === 0 ? 'History is off for this dashboard' : `No samples yet: one is taken every ${duration(interval)}`;
  const base = series
    ? { from: series.from, to: series.to, step: series.step, time: series.time }
    : { from: body.time - WINDOWS[window].ms, to: body.time, step: interval || 1, time: [] };
  // a history younger than the window is drawn from its first sample
  const partial = base.to - base.from < WINDOWS[window].ms - 1000;
  const range = partial ? `since ${clock(base.from, true)}, when sampling began` : `over the last ${WINDOWS[window].label}`;
  $('charts-range').textContent = `(${range})`;
  for (const figure of $('queue-page').querySelectorAll('figure.chart')) figure.dataset.window = window;
  const label = (what) => `${what} ${range}`;
  const depth = series?.depth ?? {};
  const rates = series?.rates ?? {};
  drawChart($('chart-depth'), {
    ...base, empty, unit: 'count', label: label('Items by state'),
    series: [['ready', 'ready'], ['delayed', 'delayed'], ['inflight', 'in flight']].map(([key, name]) => ({ key, label: name, values: depth[key] ?? [] })),
  });
  // on a scale of their own: a few dead letters beside a large backlog would lie flat at zero
  drawChart($('chart-dead'), {
    ...base, empty, unit: 'count', label: label('Dead letters'),
    series: [
      { key: 'dead', label: 'dead', values: depth.dead ?? [] },
      { key: 'deadLettered', label: 'dead-lettered', values: rates.deadLettered ?? [], plot: false, unit: 'rate' },
    ],
  });
  drawChart($('chart-rates'), {
    ...base, empty, unit: 'rate', label: label('Per second'),
    series: RATE_SERIES.map(([key, name]) => ({ key, label: name, values: rates[key] ?? [] })),
  });
  drawChart($('chart-age'), {
    ...base, empty, unit: 'seconds', label: label('Head age'),
    series: [{ key: 'headAge', label: 'head age', values: depth.headAge ?? [] }],
  });

  const tasks = series?.tasks ?? [];
  const box = $('task-charts');
  const kept = new Map([...box.children].map((figure) => [figure.dataset.task, figure]));
  const figures = tasks.slice(0, TASK_CHARTS).map(({ task, values }) => {
    const figure = kept.get(task) ?? taskFigure(task);
    figure.dataset.window = window;
    drawChart(figure, {
      ...base, empty, unit: 'seconds', label: label(`Run time of ${task}`),
      series: [
        { key: 'p50', label: 'p50', values: values.p50 },
        { key: 'p90', label: 'p90', values: values.p90 },
        { key: 'p99', label: 'p99', values: values.p99 },
        { key: 'runs', label: 'runs', values: values.runs, plot: false, unit: 'rate' },
        { key: 'failures', label: 'failures', values: values.failures, plot: false, unit: 'rate' },
      ],
    });
    return figure;
  });
  box.replaceChildren(...figures);
  $('task-charts-note').hidden = tasks.length <= TASK_CHARTS;
  $('task-charts-note').textContent = `Run time of the first ${TASK_CHARTS} of ${tasks.length} tasks, by name.`;
}

// ---- inspect ----------------------------------------------------------------------------

function when(ms) {
  return `${new Date(ms).toISOString()} (${ago(ms)})`;
}

function stateText(item) {
  if (item.state === 'inflight') {
    return item.leaseUntil ? `in flight until ${when(Date.parse(item.leaseUntil))}` : 'in flight (lease ended, not yet processed)';
  }
  if (item.state === 'delayed') return item.visibleAt ? `delayed until ${when(Date.parse(item.visibleAt))}` : 'delayed';
  if (item.state === 'dead') return 'dead (in the dead-letter queue)';
  return 'ready';
}

export function renderItem(item) {
  const rows = [
    ['id', item.id],
    ['state', stateText(item)],
    ['deliveries', String(item.deliveries)],
    ['priority', String(item.priority)],
  ];
  if (item.lease !== undefined) rows.push(['lease', item.lease]);
  if (item.task) {
    rows.push(['task', `${item.task.name} (${item.task.id})`]);
    rows.push(['task status', item.task.status]);
    if (item.task.attempt !== undefined) rows.push(['attempt', `${item.task.attempt} (runs started)`]);
    if (item.task.error !== undefined) rows.push(['last error', item.task.error]);
    if (item.task.at !== undefined) rows.push(['status since', when(Date.parse(item.task.at))]);
  }
  rows.push(['item', itemText(item.item)]);
  const list = $('inspect-result');
  list.replaceChildren(
    ...rows.flatMap(([key, value]) => [el('dt', {}, key), el('dd', { 'data-field': key, className: key === 'state' ? 'state' : '' }, value)]),
  );
  list.hidden = false;
}

/** Wires the task table's sorting and the dead letters' pager; `refresh` reloads the page. */
export function initQueue(refresh) {
  sortableHeader($('tasks'), () => queueView.taskSort, (sort) => {
    queueView.taskSort = sort;
    renderTasks();
  });
  for (const button of $('dead-pager').querySelectorAll('button[data-page]')) {
    button.addEventListener('click', () => {
      queueView.deadPage = Math.max(0, queueView.deadPage + Number(button.dataset.page));
      void refresh();
    });
  }
}
