// The visq dashboard: polls the JSON API and renders the queue list (#) or one queue
// (#/queue/<name>). Every value from the API is user data (queue names, items), so it is
// only ever put in the page as text (textContent), never as HTML. Notices appear beside
// the control that caused them: the token form, the inspector, the dead-letter actions.
import { $, apiPath, clearNotice, clock, count, duration, notice, requestJson } from './format.js';
import { initOverview, listPath, renderOverview } from './overview.js';
import { DEAD_PAGE, initQueue, queueView, renderDead, renderHistory, renderItem, renderQueue, SHOWN } from './queue.js';

const POLL_MS = 2000;
const TOKEN_KEY = 'visq-dashboard-token';
const WINDOW_KEY = 'visq-dashboard-window';
const WINDOW_LABEL = { '15m': '15 min', '1h': '1 h', '24h': '24 h' };

const state = {
  readOnly: true,
  timer: undefined,
  /** refreshes started, to drop the answers of superseded ones */
  runs: 0,
  /** dead letters of the queue shown, for the confirmations */
  dead: 0,
  window: WINDOW_LABEL[sessionStorage.getItem(WINDOW_KEY)] ? sessionStorage.getItem(WINDOW_KEY) : '15m',
  /** queue, window and latest sample of the charts drawn: they are fetched again only when one changes */
  charted: '',
};

function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

function setStatus(ok, text) {
  const status = $('status');
  status.className = `status ${ok ? 'live' : 'error'}`;
  status.textContent = text;
}

function renderMode(body) {
  state.readOnly = body.readOnly;
  $('prefix').textContent = `prefix ${body.prefix}`;
  $('mode').hidden = !body.readOnly;
  $('mode').title = 'Start the dashboard with --token (or VISQ_DASHBOARD_TOKEN) to allow redrive and purge';
  $('token-form').hidden = body.readOnly;
  $('token-forget').hidden = token() === '';
  const { interval, since } = body.history;
  $('history-note').textContent =
    interval === 0
      ? 'History is off: no charts.'
      : `Charts: a sample every ${duration(interval)}${since === null ? '' : ` since ${clock(since, true)}`}, kept in this server's memory and lost when it restarts.`;
}

function renderWindow() {
  for (const button of $('window').querySelectorAll('button[data-window]')) {
    button.setAttribute('aria-pressed', String(button.dataset.window === state.window));
  }
}

// ---- inspect and actions -------------------------------------------------------------------

/** Inspects `id`; `fromList`: clicked in a table, so the inspector is brought into view. */
async function inspect(id, fromList = false) {
  const name = currentQueue();
  if (name === undefined || id === '') return;
  $('inspect-id').value = id;
  if (fromList) $('inspect-heading').scrollIntoView({ block: 'start' });
  try {
    renderItem(await requestJson(apiPath(name, 'items', id)));
    clearNotice('inspect-notice');
    if (fromList) $('inspect-result').focus({ preventScroll: true });
  } catch (error) {
    $('inspect-result').hidden = true;
    notice('inspect-notice', error.message, 'error');
  }
}

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
    notice('actions-notice', kind === 'redrive' ? `Moved ${count(body.moved)} dead letters back to "${name}".` : `Deleted ${count(body.purged)} dead letters of "${name}".`);
  } catch (error) {
    notice('actions-notice', error.message, 'error');
  }
  queueView.deadPage = 0;
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

async function refreshQueue(name, run) {
  const [body, dead] = await Promise.all([
    requestJson(`${apiPath(name)}?limit=${SHOWN}`),
    requestJson(`${apiPath(name, 'dead')}?offset=${queueView.deadPage * DEAD_PAGE}&limit=${DEAD_PAGE}`),
  ]);
  if (run !== state.runs) return undefined;
  renderMode(body);
  state.dead = body.stats.dead;
  const hasToken = token() !== '';
  renderQueue(body, { canAct: !state.readOnly && hasToken, readOnly: state.readOnly, hasToken, inspect });
  renderDead(dead, inspect);
  const charted = `${name}\u0000${state.window}\u0000${body.history.latest}`;
  if (charted !== state.charted) {
    const history = await requestJson(`${apiPath(name, 'history')}?window=${state.window}`);
    if (run !== state.runs) return undefined;
    renderHistory(history, state.window);
    state.charted = charted;
  }
  return body;
}

async function refresh() {
  // a newer refresh (a click, a hash change) makes this one's answer stale: it is dropped
  const run = ++state.runs;
  const name = currentQueue();
  $('overview').hidden = name !== undefined;
  $('queue-page').hidden = name === undefined;
  try {
    if (name === undefined) {
      const body = await requestJson(listPath(state.window));
      if (run !== state.runs) return;
      renderMode(body);
      renderOverview(body, state.window);
    } else if (!(await refreshQueue(name, run))) {
      return;
    }
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
    notice('token-notice', value === '' ? 'Token forgotten.' : 'Token kept for this tab.');
    void refresh();
  });
  $('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $('token').value = '';
    notice('token-notice', 'Token forgotten.');
    void refresh();
  });
  $('inspect-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void inspect($('inspect-id').value.trim());
  });
  $('redrive').addEventListener('click', () => void act('redrive'));
  $('purge').addEventListener('click', () => void act('purge'));
  for (const button of $('window').querySelectorAll('button[data-window]')) {
    button.addEventListener('click', () => {
      state.window = button.dataset.window;
      sessionStorage.setItem(WINDOW_KEY, state.window);
      renderWindow();
      void refresh();
    });
  }
  initOverview(refresh);
  initQueue(refresh);
  window.addEventListener('hashchange', () => {
    for (const id of ['token-notice', 'inspect-notice', 'actions-notice']) clearNotice(id);
    $('inspect-result').hidden = true;
    $('inspect-id').value = '';
    queueView.deadPage = 0;
    state.charted = '';
    void refresh();
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) void refresh();
  });
  renderWindow();
  void refresh();
}

init();
