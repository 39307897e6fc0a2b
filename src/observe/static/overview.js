// The queue list (#): one page of queues, sorted and filtered by the server, each row
// with a sparkline of its ready count over the chosen window.
import { sparkline } from './chart.js';
import { $, count, duration, el, markSorted, rate, renderPager, sortableHeader } from './format.js';

/** Rows per page: a thousand queues are twenty pages. */
export const PAGE_SIZE = 50;

const WINDOW_LABEL = { '15m': '15 min', '1h': '1 h', '24h': '24 h' };

export const overview = {
  sort: { key: undefined, order: 'asc' },
  page: 0,
  filter: '',
  total: 0,
};

/** The list request for the current sort, page, filter and window. */
export function listPath(window) {
  const params = new URLSearchParams({ offset: String(overview.page * PAGE_SIZE), limit: String(PAGE_SIZE), window });
  if (overview.sort.key) {
    params.set('sort', overview.sort.key);
    params.set('order', overview.sort.order);
  }
  if (overview.filter) params.set('filter', overview.filter);
  return `api/queues?${params}`;
}

function cell(field, text, className = '') {
  return el('td', { 'data-field': field, className }, text);
}

export function renderOverview(body, window) {
  overview.total = body.total;
  const rows = body.queues.map((q) => {
    const link = el('a', { href: `#/queue/${encodeURIComponent(q.name)}` }, q.name);
    const trend = q.spark ? sparkline(q.spark, `ready items of ${q.name} over the last ${WINDOW_LABEL[window]}`) : '–';
    return el(
      'tr',
      { 'data-queue': q.name },
      el('td', { className: 'name', 'data-field': 'name' }, link),
      el('td', { className: 'trend', 'data-field': 'trend' }, trend),
      cell('ready', count(q.ready)),
      cell('delayed', count(q.delayed), q.delayed === 0 ? 'quiet' : ''),
      cell('inflight', count(q.inflight), q.inflight === 0 ? 'quiet' : ''),
      cell('dead', count(q.dead), q.dead > 0 ? 'dead-some' : 'quiet'),
      cell('headAge', duration(q.headAge)),
      cell('putsRate', rate(q.rates?.puts)),
      cell('deliveriesRate', rate(q.rates?.deliveries)),
      cell('donesRate', rate(q.rates?.dones)),
      cell('expiries', count(q.expiries), q.expiries === 0 ? 'quiet' : ''),
      cell('deadLettered', count(q.deadLettered), q.deadLettered === 0 ? 'quiet' : ''),
    );
  });
  $('queues').tBodies[0].replaceChildren(...rows);
  // a page past the end (queues went away): back to the first at the next refresh
  if (rows.length === 0 && body.offset > 0) overview.page = 0;
  $('no-queues').hidden = rows.length > 0;
  $('no-queues').textContent = overview.filter
    ? `No queue name contains "${overview.filter}".`
    : 'No queues under this prefix yet: a queue is listed from its first put.';
  markSorted($('queues'), overview.sort);
  renderPager($('queues-pager'), body.offset, rows.length, body.total, 'queues');
}

/** Wires the overview's controls; `refresh` reloads the list. */
export function initOverview(refresh) {
  sortableHeader($('queues'), () => overview.sort, (sort) => {
    overview.sort = sort;
    overview.page = 0;
    void refresh();
  });
  for (const button of $('queues-pager').querySelectorAll('button[data-page]')) {
    button.addEventListener('click', () => {
      overview.page = Math.max(0, overview.page + Number(button.dataset.page));
      void refresh();
    });
  }
  let typing;
  $('filter').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      overview.filter = $('filter').value.trim();
      overview.page = 0;
      void refresh();
    }, 250);
  });
}
