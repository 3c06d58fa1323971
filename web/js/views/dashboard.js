// SPDX-License-Identifier: Apache-2.0
// #/dashboard[?event=<id>] (admin): live sales. Totals come from GET /api/analytics/summary and
// then from `event: summary` messages of GET /api/analytics/stream (read with fetch, sse.js);
// `event: event` messages (the shape of GET /api/analytics/events/{id}) update the activity table
// and, for the event picked, its figures and per-minute chart (SVG, last CHART_MINUTES minutes).
import { h, put, svg, revenueText } from '../dom.js';
import { api, errorText } from '../api.js';
import { eventTitle, rememberEvent } from '../catalog.js';
import { openStream } from '../sse.js';

const CHART_MINUTES = 60;

function stat(label, id) {
  const value = h('p', { class: 'stat-value', id }, '—');
  return { el: h('div', { class: 'stat' }, h('p', { class: 'stat-label' }, label), value), value };
}

function pct(v) {
  return v === null || v === undefined ? '—' : `${Number(v).toFixed(Number(v) < 10 ? 2 : 1)}%`;
}

/** Tickets per minute over the last CHART_MINUTES minutes as an SVG bar chart. */
function chart(perMinute) {
  const W = 600;
  const H = 180;
  const PAD_L = 36;
  const PAD_B = 22;
  const PAD_T = 10;
  const now = Math.floor(Date.now() / 60000);
  const first = now - CHART_MINUTES + 1;
  const buckets = new Array(CHART_MINUTES).fill(0);
  for (const m of perMinute || []) {
    const at = Math.floor(Date.parse(m.minute) / 60000);
    if (at >= first && at <= now) buckets[at - first] += m.tickets_sold || 0;
  }
  const peak = Math.max(...buckets);
  const top = Math.max(1, peak);
  const total = buckets.reduce((a, b) => a + b, 0);
  const bw = (W - PAD_L) / CHART_MINUTES;
  const plotH = H - PAD_B - PAD_T;
  const peakAt = buckets.indexOf(peak);
  const label = total
    ? `Tickets sold per minute over the last ${CHART_MINUTES} minutes: ${total} in all, at most ${peak} in one minute (${new Date((first + peakAt) * 60000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}).`
    : `No tickets sold in the last ${CHART_MINUTES} minutes.`;
  const bars = buckets.map((n, i) => {
    if (!n) return null;
    const bh = (n / top) * plotH;
    const t = new Date((first + i) * 60000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    return svg('rect', { x: (PAD_L + i * bw + 1).toFixed(1), y: (PAD_T + plotH - bh).toFixed(1), width: Math.max(1, bw - 2).toFixed(1), height: bh.toFixed(1), class: 'bar' }, svg('title', {}, `${t}: ${n} ticket${n === 1 ? '' : 's'}`));
  });
  const ticks = [0, 15, 30, 45, CHART_MINUTES - 1].map((i) => {
    const last = i === CHART_MINUTES - 1;
    return svg('text', { x: last ? W : (PAD_L + i * bw + bw / 2).toFixed(1), y: H - 6, class: 'axis', 'text-anchor': last ? 'end' : 'middle' },
      last ? 'now' : `-${CHART_MINUTES - 1 - i} min`);
  });
  return svg(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': label, 'data-total': total, preserveAspectRatio: 'xMidYMid meet' },
    svg('line', { x1: PAD_L, y1: PAD_T + plotH, x2: W, y2: PAD_T + plotH, class: 'axis-line' }),
    svg('text', { x: PAD_L - 6, y: PAD_T + 8, class: 'axis', 'text-anchor': 'end' }, String(top)),
    svg('text', { x: PAD_L - 6, y: PAD_T + plotH, class: 'axis', 'text-anchor': 'end' }, '0'),
    bars,
    ticks,
  );
}

export default async function dashboardView(ctx) {
  const live = h('p', { class: 'live-state', role: 'status', 'aria-live': 'polite' }, 'Connecting to the live feed…');
  const totals = { orders: stat('Orders', 'dash-orders'), sold: stat('Tickets sold', 'dash-tickets-sold'), revenue: stat('Revenue', 'dash-revenue') };
  const topList = h('ol', { class: 'top-events' });
  const sumMsg = h('p', { class: 'status error', role: 'alert' });
  const activity = h('tbody');
  const picker = h('select', { id: 'event-pick', name: 'event' }, h('option', { value: '' }, 'Choose an event'));
  const ev = {
    sold: stat('Tickets sold', 'ev-sold'),
    revenue: stat('Revenue', 'ev-revenue'),
    holds: stat('Active holds', 'ev-active-holds'),
    through: stat('Sell-through', 'ev-sell-through'),
    created: stat('Holds created', 'ev-holds-created'),
    expired: stat('Holds expired', 'ev-holds-expired'),
    cancels: stat('Cancellations', 'ev-cancellations'),
  };
  const evMsg = h('p', { class: 'status', role: 'status' });
  const chartBox = h('div', { class: 'chart-box' });
  const evPanel = h('div', { class: 'event-panel', hidden: true }, h('div', { class: 'stats' }, Object.values(ev).map((s) => s.el)), h('h3', {}, 'Tickets per minute'), chartBox);

  put(
    ctx.root,
    h('h1', {}, 'Sales dashboard'),
    live,
    h('section', { 'aria-labelledby': 'tot-h' }, h('h2', { id: 'tot-h' }, 'All events'), sumMsg, h('div', { class: 'stats' }, Object.values(totals).map((s) => s.el))),
    h(
      'section',
      { 'aria-labelledby': 'one-h' },
      h('h2', { id: 'one-h' }, 'One event'),
      h('div', { class: 'field' }, h('label', { for: 'event-pick' }, 'Event'), picker),
      evMsg,
      evPanel,
    ),
    h('section', { 'aria-labelledby': 'top-h' }, h('h2', { id: 'top-h' }, 'Top events'), topList),
    h(
      'section',
      { 'aria-labelledby': 'act-h' },
      h('h2', { id: 'act-h' }, 'Live activity'),
      h('p', { class: 'hint' }, 'Events whose sales changed since this page opened.'),
      h('div', { class: 'table-wrap' }, h('table', { class: 'activity' },
        h('thead', {}, h('tr', {}, ['Event', 'Sold', 'Revenue', 'Active holds', 'Sell-through', 'Updated'].map((t) => h('th', { scope: 'col' }, t)))),
        activity)),
    ),
  );

  let selected = ctx.query.get('event') || '';
  const known = new Map(); // event id → latest event analytics
  const activityRows = new Map();

  /* An option for the event (its title filled in when known); returns it. */
  function addOption(id, title) {
    let opt = [...picker.options].find((o) => o.value === id);
    if (!opt) {
      opt = h('option', { value: id }, title || '…');
      picker.append(opt);
      if (!title) eventTitle(id).then((t) => { opt.textContent = t; });
    } else if (title && opt.textContent === '…') {
      opt.textContent = title;
    }
    return opt;
  }

  function renderSummary(s) {
    sumMsg.textContent = '';
    totals.orders.value.textContent = String(s.orders ?? '—');
    totals.sold.value.textContent = String(s.tickets_sold ?? '—');
    totals.revenue.value.textContent = revenueText(s.revenue);
    topList.replaceChildren(
      ...(s.top_events || []).map((t) => {
        const opt = addOption(t.event_id, t.title);
        const b = h('button', { type: 'button', class: 'link' }, t.title || opt.textContent);
        if (!t.title) eventTitle(t.event_id).then((x) => { b.textContent = x; });
        b.addEventListener('click', () => select(t.event_id));
        return h('li', {}, b, ` · ${t.tickets_sold} sold`);
      }),
    );
    if (!(s.top_events || []).length) topList.replaceChildren(h('li', { class: 'hint' }, 'No sales yet.'));
    // nothing picked yet: show the best seller rather than an empty panel
    if (!selected && (s.top_events || []).length) select(s.top_events[0].event_id);
  }

  function renderEvent(d) {
    evPanel.hidden = false;
    evMsg.textContent = '';
    ev.sold.value.textContent = String(d.tickets_sold);
    ev.revenue.value.textContent = revenueText(d.revenue);
    ev.holds.value.textContent = String(d.active_holds);
    ev.through.value.textContent = pct(d.sell_through);
    ev.created.value.textContent = String(d.holds_created ?? '—');
    ev.expired.value.textContent = String(d.holds_expired ?? '—');
    ev.cancels.value.textContent = String(d.cancellations ?? '—');
    chartBox.replaceChildren(chart(d.per_minute));
  }

  function renderActivity(d) {
    let row = activityRows.get(d.event_id);
    if (!row) {
      const name = h('button', { type: 'button', class: 'link' }, '…');
      name.addEventListener('click', () => select(d.event_id));
      eventTitle(d.event_id).then((t) => {
        name.textContent = t;
      });
      addOption(d.event_id, null);
      row = { tr: h('tr', {}), name };
      activityRows.set(d.event_id, row);
    }
    row.tr.replaceChildren(
      h('th', { scope: 'row' }, row.name),
      h('td', {}, String(d.tickets_sold)),
      h('td', {}, revenueText(d.revenue)),
      h('td', {}, String(d.active_holds)),
      h('td', {}, pct(d.sell_through)),
      h('td', {}, new Date().toLocaleTimeString()),
    );
    activity.prepend(row.tr); // most recent first
  }

  async function select(id) {
    selected = id;
    if (id) addOption(id, null);
    picker.value = id;
    const path = `/dashboard${id ? `?event=${encodeURIComponent(id)}` : ''}`;
    history.replaceState(null, '', `#${path}`);
    if (!id) {
      evPanel.hidden = true;
      return;
    }
    if (known.has(id)) renderEvent(known.get(id));
    else evMsg.textContent = 'Loading…';
    try {
      const d = await api(`/api/analytics/events/${encodeURIComponent(id)}`, { signal: ctx.signal });
      if (selected !== id) return;
      known.set(id, d);
      renderEvent(d);
    } catch (err) {
      if (err.name === 'AbortError' || selected !== id) return;
      evPanel.hidden = true;
      evMsg.textContent = err.code === 'not_found' ? 'No sales data for this event yet.' : errorText(err);
    }
  }
  picker.addEventListener('change', () => select(picker.value));

  const stream = openStream('/api/analytics/stream', {
    onEvent(m) {
      let d;
      try {
        d = JSON.parse(m.data);
      } catch {
        return;
      }
      if (m.event === 'summary') renderSummary(d);
      else if (m.event === 'event' && d && d.event_id) {
        known.set(d.event_id, d);
        renderActivity(d);
        if (d.event_id === selected) renderEvent(d);
      }
    },
    onState(state, info) {
      live.className = `live-state ${state}`;
      if (state === 'open') live.textContent = '● Live: figures update as sales happen.';
      else if (state === 'connecting') live.textContent = 'Connecting to the live feed…';
      else if (state === 'retrying') live.textContent = `Live feed interrupted (${info.reason}). Reconnecting in ${Math.ceil(info.delayMs / 1000)} s…`;
      else live.textContent = `Live feed stopped: ${info.reason}`;
    },
  });
  ctx.onLeave(() => stream.close());

  // the picker lists published events; the activity and top lists add the others they see
  api('/api/events', { query: { limit: 100 }, signal: ctx.signal }).then(
    (page) => page.items.forEach((e) => {
      rememberEvent(e);
      addOption(e.id, e.title);
    }),
    () => {},
  ).then(() => {
    if (selected) picker.value = selected;
  });
  if (selected) select(selected);

  try {
    renderSummary(await api('/api/analytics/summary', { signal: ctx.signal }));
  } catch (err) {
    if (err.name === 'AbortError') return;
    sumMsg.textContent = `Sales totals are unavailable right now: ${errorText(err)}`;
  }
}
