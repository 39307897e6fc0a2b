// Shared pieces of the dashboard page: building elements (as text only: every value from
// the API is user data), formatting numbers, durations and times in one voice, and the
// JSON requests.

export const $ = (id) => document.getElementById(id);

/** An element with text or child nodes; attributes set as properties, or as attributes for data-* and aria-*. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined) continue;
    if (key.startsWith('data-') || key.startsWith('aria-') || key === 'role') node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const numberFormat = new Intl.NumberFormat('en-US');
const oneDecimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

export function count(n) {
  return numberFormat.format(n);
}

/** A rate per second: '–' when unknown (fewer than two samples), small rates with their first digit. */
export function rate(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  if (value === 0) return '0';
  if (value < 0.1) return value.toPrecision(1);
  return value < 10 ? oneDecimal.format(value) : numberFormat.format(Math.round(value));
}

/**
 * A duration in seconds, in the unit that suits it: ms below a second, s below two
 * minutes, then min, h, d. Zero is "0 s" and a positive time below a millisecond is
 * "< 1 ms" (never "0 ms"), wherever the page shows a duration.
 */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds <= 0) return '0 s';
  if (seconds < 0.001) return '< 1 ms';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${oneDecimal.format(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${oneDecimal.format(seconds / 3600)} h`;
  return `${oneDecimal.format(seconds / 86400)} d`;
}

/** A time of day, local: 14:03 (or 14:03:25 with seconds). */
export function clock(ms, withSeconds = false) {
  return new Date(ms).toLocaleTimeString('en-GB', withSeconds ? {} : { hour: '2-digit', minute: '2-digit' });
}

/** When a moment was, from now: "3 min ago" (or "in 3 min"). */
export function ago(ms) {
  const seconds = (ms - Date.now()) / 1000;
  return seconds >= 0 ? `in ${duration(seconds)}` : `${duration(-seconds)} ago`;
}

/** An item as one line of JSON, cut at 300 characters. */
export function itemText(item) {
  const text = JSON.stringify(item);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

export function apiPath(...segments) {
  // relative, so the page also works behind a proxy under a sub-path
  return ['api', 'queues', ...segments.map(encodeURIComponent)].join('/');
}

/** The JSON answer of `path`; a failure throws the API's `error` message. */
export async function requestJson(path, init = {}) {
  const response = await fetch(path, { cache: 'no-store', ...init, headers: { Accept: 'application/json', ...init.headers } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

/** Shows `message` in the notice element `id`, beside the control that caused it. */
export function notice(id, message, kind = 'info') {
  const box = $(id);
  box.textContent = message;
  box.className = `notice ${kind}`;
  box.hidden = false;
}

export function clearNotice(id) {
  $(id).hidden = true;
}

/**
 * Makes the header buttons of `table` sort it: each `th button[data-sort]` sets the key
 * (a second press flips the order) and marks its column with aria-sort.
 */
export function sortableHeader(table, current, onChange) {
  for (const button of table.querySelectorAll('th button[data-sort]')) {
    button.addEventListener('click', () => {
      const key = button.dataset.sort;
      const order = current().key === key ? (current().order === 'asc' ? 'desc' : 'asc') : button.dataset.first || 'desc';
      onChange({ key, order });
    });
  }
}

/** Marks the sorted column of `table` (aria-sort, and the arrow the stylesheet draws). */
export function markSorted(table, { key, order }) {
  for (const th of table.querySelectorAll('th')) {
    const button = th.querySelector('button[data-sort]');
    if (!button) continue;
    if (button.dataset.sort === key) th.setAttribute('aria-sort', order === 'asc' ? 'ascending' : 'descending');
    else th.removeAttribute('aria-sort');
  }
}

/** A pager's range text and buttons: "51–100 of 1,000 queues". */
export function renderPager(pager, offset, shown, total, noun, reachable = total) {
  pager.hidden = total <= shown && offset === 0;
  const range = shown === 0 ? `none of ${count(total)}` : `${count(offset + 1)}–${count(offset + shown)} of ${count(total)}`;
  const limited = reachable < total ? ` (the first ${count(reachable)} can be shown)` : '';
  pager.querySelector('[data-range]').textContent = `${range} ${noun}${limited}`;
  pager.querySelector('[data-page="-1"]').disabled = offset === 0;
  pager.querySelector('[data-page="1"]').disabled = offset + shown >= reachable;
}
