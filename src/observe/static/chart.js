// Hand-drawn SVG charts: a line chart over a time window (with a crosshair that the mouse
// or the arrow keys move, and a readout of the values under it) and a sparkline. Lines
// break where a sample is missing. Colours are told apart by dash patterns too, and pass
// 3:1 contrast on white (WCAG 1.4.11).
import { clock, count, duration, rate } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';

/** Colour and dash of each series, by its key: Okabe–Ito hues, darkened for contrast. */
export const STYLES = {
  ready: { color: '#0072b2', dash: '' },
  delayed: { color: '#9a6200', dash: '6 3' },
  inflight: { color: '#007a5a', dash: '2 3' },
  dead: { color: '#d55e00', dash: '10 3 2 3' },
  headAge: { color: '#6b4c9a', dash: '' },
  puts: { color: '#0072b2', dash: '' },
  deliveries: { color: '#007a5a', dash: '2 3' },
  dones: { color: '#6b4c9a', dash: '6 3' },
  expiries: { color: '#9a6200', dash: '1 3' },
  deadLettered: { color: '#d55e00', dash: '10 3 2 3' },
  p50: { color: '#0072b2', dash: '' },
  p90: { color: '#9a6200', dash: '6 3' },
  p99: { color: '#d55e00', dash: '2 3' },
};

const WIDTH = 640;
const HEIGHT = 190;
const MARGIN = { left: 58, right: 14, top: 10, bottom: 24 };

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child);
  return node;
}

/** How a value of `unit` reads: counts, rates per second, seconds. */
export function formatValue(unit, value) {
  if (value === null || value === undefined) return '–';
  if (unit === 'rate') return `${rate(value)}/s`;
  if (unit === 'seconds') return duration(value);
  return count(Math.round(value));
}

/** Round numbers for an axis from 0 to at least `max`: about four steps of 1, 2 or 5 × 10^n. */
function yTicks(max, unit) {
  const floor = unit === 'seconds' ? 0.001 : unit === 'rate' ? 0.1 : 1;
  const top = Math.max(max, floor);
  const raw = top / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  const nice = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
  // a count axis steps by whole items
  const step = unit === 'count' ? Math.max(1, Math.round(nice)) : nice;
  const ticks = [];
  for (let v = 0; v < top + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Times for the x axis: whole minutes or hours, at most six. */
function xTicks(from, to) {
  const minute = 60_000;
  const steps = [minute, 5 * minute, 15 * minute, 30 * minute, 60 * minute, 180 * minute, 360 * minute];
  const step = steps.find((s) => (to - from) / s <= 6) ?? steps.at(-1);
  const offset = new Date(from).getTimezoneOffset() * minute;
  const ticks = [];
  // local whole steps: shift to local time, round up, shift back
  for (let t = Math.ceil((from - offset) / step) * step + offset; t <= to; t += step) ticks.push(t);
  // a span shorter than the smallest step (a young history) is labelled at its ends
  return ticks.length >= 2 ? ticks : [from, to];
}

/** Segments of consecutive points, split where a value is missing or samples are far apart. */
function segments(time, values, gapMs) {
  const out = [];
  let current = [];
  for (let i = 0; i < time.length; i += 1) {
    const value = values[i];
    const previous = current.at(-1);
    if (value === null || value === undefined || (previous && time[i] - previous.t > gapMs)) {
      if (current.length) out.push(current);
      current = [];
    }
    if (value !== null && value !== undefined) current.push({ t: time[i], v: value, i });
  }
  if (current.length) out.push(current);
  return out;
}

const charts = new WeakMap();

/**
 * Draws (or redraws) a chart into `figure`, which holds an `svg`, a `.legend` and a
 * `.readout`. `spec`: { label, unit: 'count' | 'rate' | 'seconds', from, to, step (s),
 * time: [ms], series: [{ key, label, values, plot? }] } — a series with `plot: false`
 * shows in the readout only.
 */
export function drawChart(figure, spec) {
  let state = charts.get(figure);
  if (!state) {
    state = { spec, cursor: undefined };
    charts.set(figure, state);
    listen(figure, state);
  }
  state.spec = spec;
  const plotted = spec.series.filter((s) => s.plot !== false);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const span = Math.max(1, spec.to - spec.from);
  const x = (t) => MARGIN.left + ((t - spec.from) / span) * plotW;
  let max = 0;
  for (const s of plotted) for (const v of s.values) if (v !== null && v > max) max = v;
  const ticks = yTicks(max, spec.unit);
  const top = ticks.at(-1);
  const y = (v) => MARGIN.top + plotH * (1 - v / top);

  const root = figure.querySelector('svg.plot');
  root.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  const layers = [];
  for (const v of ticks) {
    layers.push(svg('line', { class: 'grid', x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(v), y2: y(v) }));
    layers.push(svg('text', { class: 'tick', x: MARGIN.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, formatValue(spec.unit, v)));
  }
  for (const t of xTicks(spec.from, spec.to)) {
    layers.push(svg('line', { class: 'grid', x1: x(t), x2: x(t), y1: MARGIN.top, y2: MARGIN.top + plotH }));
    const anchor = x(t) > WIDTH - MARGIN.right - 25 ? 'end' : x(t) < MARGIN.left + 25 ? 'start' : 'middle';
    layers.push(svg('text', { class: 'tick', x: x(t), y: HEIGHT - 6, 'text-anchor': anchor }, clock(t, spec.to - spec.from < 120_000)));
  }
  const gapMs = Math.max(spec.step * 1000 * 2.5, 1);
  let drawn = 0;
  for (const s of plotted) {
    const style = STYLES[s.key] ?? { color: '#1d2330', dash: '' };
    for (const run of segments(spec.time, s.values, gapMs)) {
      drawn += run.length;
      if (run.length === 1) {
        layers.push(svg('circle', { class: 'dot', cx: x(run[0].t), cy: y(run[0].v), r: 2.5, fill: style.color, 'data-series': s.key }));
        continue;
      }
      const d = run.map((p, k) => `${k === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join('');
      const attrs = { class: 'line', d, stroke: style.color, fill: 'none', 'stroke-width': 2, 'data-series': s.key };
      if (style.dash) attrs['stroke-dasharray'] = style.dash;
      layers.push(svg('path', attrs));
    }
  }
  if (drawn === 0) {
    layers.push(svg('text', { class: 'empty', x: WIDTH / 2, y: HEIGHT / 2, 'text-anchor': 'middle' }, spec.empty ?? 'No samples in this window yet'));
  }
  const cursor = svg('line', { class: 'cursor', y1: MARGIN.top, y2: MARGIN.top + plotH, x1: 0, x2: 0, visibility: 'hidden' });
  layers.push(cursor);
  root.replaceChildren(...layers);
  root.dataset.points = String(drawn);
  root.setAttribute('aria-label', summary(spec));
  state.cursorLine = cursor;
  state.x = x;

  const legend = figure.querySelector('.legend');
  legend.replaceChildren(
    ...plotted.map((s) => {
      const style = STYLES[s.key] ?? { color: '#1d2330', dash: '' };
      const sample = svg('svg', { width: 26, height: 10, 'aria-hidden': 'true' },
        svg('line', { x1: 1, x2: 25, y1: 5, y2: 5, stroke: style.color, 'stroke-width': 2.5, ...(style.dash ? { 'stroke-dasharray': style.dash } : {}) }));
      const key = document.createElement('span');
      key.className = 'key';
      key.append(sample, s.label);
      return key;
    }),
  );
  showCursor(figure, state);
}

/** What the chart shows, for a screen reader: each plotted series' latest value and peak. */
function summary(spec) {
  const parts = spec.series
    .filter((s) => s.plot !== false)
    .map((s) => {
      const known = s.values.filter((v) => v !== null);
      if (known.length === 0) return `${s.label}: no data`;
      return `${s.label} now ${formatValue(spec.unit, known.at(-1))}, peak ${formatValue(spec.unit, Math.max(...known))}`;
    });
  return `${spec.label}. ${parts.join('; ')}. Use the arrow keys to read the values at each sample.`;
}

/** Index of the sample nearest to time `t`. */
function nearest(time, t) {
  let best = -1;
  for (let i = 0; i < time.length; i += 1) {
    if (best < 0 || Math.abs(time[i] - t) < Math.abs(time[best] - t)) best = i;
  }
  return best;
}

function showCursor(figure, state) {
  const { spec } = state;
  const readout = figure.querySelector('.readout');
  const index = state.cursor === undefined ? -1 : nearest(spec.time, state.cursor);
  if (index < 0) {
    state.cursorLine.setAttribute('visibility', 'hidden');
    readout.textContent = spec.time.length ? 'Point or use the arrow keys to read values.' : '';
    return;
  }
  const t = spec.time[index];
  state.cursorLine.setAttribute('x1', state.x(t));
  state.cursorLine.setAttribute('x2', state.x(t));
  state.cursorLine.setAttribute('visibility', 'visible');
  readout.textContent = `${clock(t, true)} · ${spec.series
    .map((s) => `${s.label} ${formatValue(s.unit ?? spec.unit, s.values[index])}`)
    .join(' · ')}`;
}

function listen(figure, state) {
  const root = figure.querySelector('svg.plot');
  root.setAttribute('tabindex', '0');
  root.setAttribute('role', 'img');
  root.addEventListener('pointermove', (event) => {
    const box = root.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * WIDTH;
    const { spec } = state;
    state.cursor = spec.from + ((px - MARGIN.left) / (WIDTH - MARGIN.left - MARGIN.right)) * (spec.to - spec.from);
    showCursor(figure, state);
  });
  root.addEventListener('pointerleave', () => {
    if (document.activeElement === root) return;
    state.cursor = undefined;
    showCursor(figure, state);
  });
  root.addEventListener('keydown', (event) => {
    const { time } = state.spec;
    if (time.length === 0) return;
    const current = state.cursor === undefined ? time.length : nearest(time, state.cursor);
    const moves = { ArrowLeft: -1, ArrowRight: 1, PageUp: -10, PageDown: 10 };
    let index;
    if (event.key in moves) index = current + moves[event.key];
    else if (event.key === 'Home') index = 0;
    else if (event.key === 'End') index = time.length - 1;
    else if (event.key === 'Escape') index = undefined;
    else return;
    event.preventDefault();
    state.cursor = index === undefined ? undefined : time[Math.max(0, Math.min(time.length - 1, index))];
    showCursor(figure, state);
  });
}

/** A sparkline of `values` (nulls are gaps): a small SVG with a text alternative. */
export function sparkline(values, label) {
  const width = 120;
  const height = 26;
  const known = values.filter((v) => v !== null);
  const max = Math.max(1, ...known);
  const step = width / Math.max(1, values.length - 1);
  const y = (v) => 2 + (height - 4) * (1 - v / max);
  const root = svg('svg', { class: 'spark', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img' });
  // the slices are finer than the samples of a young history: the line joins the known ones
  let d = '';
  values.forEach((v, i) => {
    if (v !== null) d += `${d ? 'L' : 'M'}${(i * step).toFixed(1)},${y(v).toFixed(1)}`;
  });
  if (d) root.append(svg('path', { d, fill: 'none', stroke: STYLES.ready.color, 'stroke-width': 1.5 }));
  const last = values.findLastIndex((v) => v !== null);
  if (last >= 0) root.append(svg('circle', { cx: last * step, cy: y(values[last]), r: 2, fill: STYLES.ready.color }));
  root.dataset.points = String(known.length);
  root.setAttribute(
    'aria-label',
    known.length === 0 ? `${label}: no samples yet` : `${label}: now ${count(known.at(-1))}, peak ${count(Math.max(...known))}`,
  );
  return root;
}
