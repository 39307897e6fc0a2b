// The visq dashboard: polls the JSON API and renders the queue list (#) or one queue
// (#/queue/<name>). Every value from the API is user data (queue names, items), so it is
// only ever put in the page as text (textContent), never as HTML.
'use strict';

const POLL_MS = 2000;
/** Ready items and dead letters shown on a queue's page. */
const SHOWN = 10;
const TOKEN_KEY = 'visq-dashboard-token';

const $ = (id) => document.getElementById(id);

/** An element with text or child nodes; attributes set as properties or data-*. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith('data-')) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

const numberFormat = new Intl.NumberFormat('en-US');
const rateFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

function count(n) {
  return numberFormat.format(n);
}

function duration(seconds) {
  if (!(seconds > 0)) return '0 s';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${rateFormat.format(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${rateFormat.format(seconds / 3600)} h`;
  return `${rateFormat.format(seconds / 86400)} d`;
}

function itemText(item) {
  const text = JSON.stringify(item);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function apiPath(...segments) {
  // relative, so the page also works behind a proxy under a sub-path
  return ['api', 'queues', ...segments.map(encodeURIComponent)].join('/');
}

// ---- state -------------------------------------------------------------------------------

const state = {
  readOnly: true,
  /** view and queue name -> the previous sample { time, puts, deliveries, dones }, for rates */
  samples: new Map(),
  timer: undefined,
  /** refreshes started, to drop the answers of superseded ones */
  runs: 0,
  /** dead letters of the queue shown, for the confirmations */
  dead: 0,
};

function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

/** Per-second rates of the totals between this sample and the previous one of `name`. */
function rates(view, name, time, stats) {
  const key = `${view}\u0000${name}`;
  const previous = state.samples.get(key);
  state.samples.set(key, { time, puts: stats.puts, deliveries: stats.deliveries, dones: stats.dones });
  if (!previous || time <= previous.time) return undefined;
  const seconds = (time - previous.time) / 1000;
  const rate = (field) => Math.max(0, stats[field] - previous[field]) / seconds;
  return { puts: rate('puts'), deliveries: rate('deliveries'), dones: rate('dones') };
}

function rateText(value) {
  return value === undefined ? '–' : rateFormat.format(value);
}

// ---- notices and status ----------------------------------------------------------------

function notice(message, kind = 'info') {
  const box = $('notice');
  box.textContent = message;
  box.className = `notice ${kind}`;
  box.hidden = false;
}

function clearNotice() {
  $('notice').hidden = true;
}

function setStatus(ok, text) {
  const status = $('status');
  status.className = `status ${ok ? 'live' : 'error'}`;
  status.textContent = text;
}

/** The JSON answer of `path`; a failure throws the API's `error` message. */
async function requestJson(path, init = {}) {
  const response = await fetch(path, { cache: 'no-store', ...init, headers: { Accept: 'application/json', ...init.headers } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

function renderMode(readOnly, prefix) {
  state.readOnly = readOnly;
  $('prefix').textContent = `prefix ${prefix}`;
  $('mode').hidden = !readOnly;
  $('mode').title = 'Start the dashboard with --token (or VISQ_DASHBOARD_TOKEN) to allow redrive and purge';
  $('token-form').hidden = readOnly;
  $('token-forget').hidden = token() === '';
}

// ---- the queue list ----------------------------------------------------------------------

function cell(field, text, className = '') {
  return el('td', { 'data-field': field, className }, text);
}

function renderQueues(body) {
  const rows = body.queues.map((q) => {
    const r = rates('list', q.name, body.time, q);
    const link = el('a', { href: `#/queue/${encodeURIComponent(q.name)}` }, q.name);
    return el(
      'tr',
      { 'data-queue': q.name },
      el('td', { className: 'name', 'data-field': 'name' }, link),
      cell('ready', count(q.ready)),
      cell('delayed', count(q.delayed), q.delayed === 0 ? 'quiet' : ''),
      cell('inflight', count(q.inflight), q.inflight === 0 ? 'quiet' : ''),
      cell('dead', count(q.dead), q.dead > 0 ? 'dead-some' : 'quiet'),
      cell('headAge', duration(q.headAge)),
      cell('putsRate', rateText(r?.puts)),
      cell('deliveriesRate', rateText(r?.deliveries)),
      cell('donesRate', rateText(r?.dones)),
      cell('expiries', count(q.expiries), q.expiries === 0 ? 'quiet' : ''),
      cell('deadLettered', count(q.deadLettered), q.deadLettered === 0 ? 'quiet' : ''),
    );
  });
  $('queues').tBodies[0].replaceChildren(...rows);
  $('no-queues').hidden = rows.length > 0;
}

// ---- one queue -------------------------------------------------------------------------

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
  return el('div', { className: `card${bad ? ' bad' : ''}`, 'data-field': field }, el('div', { className: 'label' }, label), el('div', { className: 'value' }, value));
}

function itemRows(items) {
  return items.map(({ id, item }) =>
    el(
      'tr',
      { 'data-id': id },
      el('td', { className: 'id' }, el('button', { type: 'button', className: 'link', title: 'inspect', onclick: () => inspect(id) }, id)),
      el('td', { className: 'name' }, itemText(item)),
    ),
  );
}

/** The `kind` list (ready or dead) of a queue's page: the items shown of `total`. */
function renderItemList(kind, items, total) {
  $(`${kind}-count`).textContent = total > items.length ? `(first ${items.length} of ${count(total)})` : `(${count(total)})`;
  $(`${kind}-items`).tBodies[0].replaceChildren(...itemRows(items));
  $(`no-${kind}`).hidden = items.length > 0;
  $(`${kind}-items`).hidden = items.length === 0;
}

/** The run time below which about 90% of the runs ended, from the cumulative buckets. */
function p90(runTime) {
  if (runTime.count === 0) return '–';
  const bucket = runTime.buckets.find((b) => b.count >= runTime.count * 0.9);
  return !bucket || bucket.le === '+Inf' ? '> 60 s' : duration(bucket.le);
}

function renderQueue(body) {
  const s = body.stats;
  const r = rates('queue', body.name, body.time, s);
  state.dead = s.dead;
  $('queue-name').textContent = body.name;
  $('queue-cards').replaceChildren(
    card('ready', count(s.ready), 'ready'),
    card('delayed', count(s.delayed), 'delayed'),
    card('in flight', count(s.inflight), 'inflight'),
    card('dead', count(s.dead), 'dead', s.dead > 0),
    card('head age', duration(s.headAge), 'headAge'),
    card('puts/s', rateText(r?.puts), 'putsRate'),
    card('deliveries/s', rateText(r?.deliveries), 'deliveriesRate'),
    card('dones/s', rateText(r?.dones), 'donesRate'),
  );
  $('queue-totals').tBodies[0].replaceChildren(
    ...TOTALS.map(([field, label]) => el('tr', {}, el('th', {}, label), el('td', { 'data-field': field }, count(s[field])))),
  );
  $('tasks-section').hidden = body.tasks.length === 0;
  $('tasks').tBodies[0].replaceChildren(
    ...body.tasks.map((t) =>
      el(
        'tr',
        { 'data-task': t.task },
        el('td', { className: 'name' }, t.task),
        el('td', {}, count(t.started)),
        el('td', {}, count(t.done)),
        el('td', { className: t.failed > 0 ? 'dead-some' : '' }, count(t.failed)),
        el('td', {}, count(t.retried)),
        el('td', {}, count(t.runTime.count)),
        el('td', {}, t.runTime.count === 0 ? '–' : duration(t.runTime.sumSeconds / t.runTime.count)),
        el('td', {}, p90(t.runTime)),
      ),
    ),
  );
  renderItemList('ready', body.ready, s.ready);
  renderItemList('dead', body.dead, s.dead);

  const canAct = !state.readOnly && token() !== '';
  $('redrive').disabled = !canAct || s.dead === 0;
  $('purge').disabled = !canAct || s.dead === 0;
  $('actions-hint').textContent = state.readOnly
    ? 'Read-only: start the dashboard with a token to allow actions.'
    : token() === ''
      ? 'Enter the token at the top to allow actions.'
      : '';
}

// ---- inspect -------------------------------------------------------------------------------

function when(iso) {
  const date = new Date(iso);
  const seconds = (date.getTime() - Date.now()) / 1000;
  const relative = seconds >= 0 ? `in ${duration(seconds)}` : `${duration(-seconds)} ago`;
  return `${date.toISOString()} (${relative})`;
}

function stateText(item) {
  if (item.state === 'inflight') return item.leaseUntil ? `in flight until ${when(item.leaseUntil)}` : 'in flight (lease ended, not yet processed)';
  if (item.state === 'delayed') return item.visibleAt ? `delayed until ${when(item.visibleAt)}` : 'delayed';
  if (item.state === 'dead') return 'dead (in the dead-letter queue)';
  return 'ready';
}

function renderItem(item) {
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
  }
  rows.push(['item', itemText(item.item)]);
  const list = $('inspect-result');
  list.replaceChildren(
    ...rows.flatMap(([key, value]) => [
      el('dt', {}, key),
      el('dd', { 'data-field': key, className: key === 'state' ? 'state' : '' }, value),
    ]),
  );
  list.hidden = false;
}

async function inspect(id) {
  const name = currentQueue();
  if (name === undefined || id === '') return;
  $('inspect-id').value = id;
  try {
    renderItem(await requestJson(apiPath(name, 'items', id)));
    clearNotice();
  } catch (error) {
    $('inspect-result').hidden = true;
    notice(error.message, 'error');
  }
}

// ---- actions -------------------------------------------------------------------------------

function post(path) {
  return requestJson(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token()}` },
    body: '{}',
  });
}

async function act(kind) {
  const name = currentQueue();
  if (name === undefined) return;
  const dead = count(state.dead);
  const question =
    kind === 'redrive'
      ? `Move the ${dead} dead letters of "${name}" back to the queue, with fresh attempts?`
      : `Delete the ${dead} dead letters of "${name}"? This cannot be undone.`;
  if (!window.confirm(question)) return;
  try {
    const body = await post(apiPath(name, kind === 'redrive' ? 'redrive' : 'purge-dead'));
    notice(kind === 'redrive' ? `Moved ${count(body.moved)} dead letters back to "${name}".` : `Deleted ${count(body.purged)} dead letters of "${name}".`);
  } catch (error) {
    notice(error.message, 'error');
  }
  await refresh();
}

// ---- routing and polling -----------------------------------------------------------------

function currentQueue() {
  const match = /^#\/queue\/(.+)$/.exec(location.hash);
  if (!match) return undefined;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return undefined;
  }
}

async function refresh() {
  // a newer refresh (a click, a hash change) makes this one's answer stale: it is dropped
  const run = ++state.runs;
  const name = currentQueue();
  $('overview').hidden = name !== undefined;
  $('queue-page').hidden = name === undefined;
  try {
    const body = await requestJson(name === undefined ? 'api/queues' : `${apiPath(name)}?limit=${SHOWN}`);
    if (run !== state.runs) return;
    renderMode(body.readOnly, body.prefix);
    if (name === undefined) renderQueues(body);
    else renderQueue(body);
    setStatus(true, `live · ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    if (run !== state.runs) return;
    setStatus(false, `error: ${error.message}`);
  }
  clearTimeout(state.timer);
  state.timer = setTimeout(poll, POLL_MS);
}

function poll() {
  if (document.hidden) state.timer = setTimeout(poll, POLL_MS);
  else void refresh();
}

function init() {
  $('token').value = token();
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('token').value.trim();
    if (value === '') sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, value);
    notice(value === '' ? 'Token forgotten.' : 'Token kept for this tab.');
    void refresh();
  });
  $('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $('token').value = '';
    notice('Token forgotten.');
    void refresh();
  });
  $('inspect-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void inspect($('inspect-id').value.trim());
  });
  $('redrive').addEventListener('click', () => void act('redrive'));
  $('purge').addEventListener('click', () => void act('purge'));
  window.addEventListener('hashchange', () => {
    clearNotice();
    $('inspect-result').hidden = true;
    $('inspect-id').value = '';
    void refresh();
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) void refresh();
  });
  void refresh();
}

init();
