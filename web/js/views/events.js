// SPDX-License-Identifier: Apache-2.0
// #/ and #/events?q=&category=&city=&from=&to= : browse and search published events
// (GET /api/events), a page at a time with "Load more" following next_cursor. The filters live in
// the URL, so a search can be bookmarked, shared and survives a refresh.
import { h, put, money, when } from '../dom.js';
import { api, errorText } from '../api.js';
import { rememberEvent } from '../catalog.js';
import { navigate } from '../router.js';
import { field } from '../forms.js';

const PAGE = 20;
const CATEGORIES = ['classical', 'comedy', 'concert', 'jazz', 'rock', 'theatre', 'sports', 'family'];
const CITIES = ['Amsterdam', 'Berlin', 'London', 'San Francisco', 'Tokyo'];

/* date input (a local day) → RFC 3339 at that day's start or end */
function dayBound(value, end) {
  if (!value) return null;
  const d = new Date(`${value}T${end ? '23:59:59' : '00:00:00'}`);
  return Number.isNaN(d.getTime()) ? null : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function lowestPrice(ev) {
  const tiers = ev.tiers || [];
  if (!tiers.length) return null;
  const t = tiers.reduce((a, b) => (b.price_cents < a.price_cents ? b : a));
  return money(t.price_cents, t.currency);
}

function card(ev) {
  rememberEvent(ev);
  const price = lowestPrice(ev);
  return h(
    'li',
    { class: 'card event-card' },
    h('h2', {}, h('a', { href: `#/events/${encodeURIComponent(ev.id)}` }, ev.title)),
    h('p', { class: 'meta' }, h('time', { datetime: ev.starts_at }, when(ev.starts_at, ev.venue && ev.venue.timezone))),
    h('p', { class: 'meta' }, ev.venue ? `${ev.venue.name}, ${ev.venue.city}` : ''),
    h(
      'p',
      { class: 'tags' },
      h('span', { class: 'badge' }, ev.category),
      price ? h('span', { class: 'price' }, `from ${price}`) : null,
    ),
  );
}

export default async function eventsView(ctx) {
  const q = ctx.query;
  const form = h(
    'form',
    { class: 'search', role: 'search', 'aria-label': 'Search events', novalidate: true },
    field({ label: 'Search', name: 'q', type: 'search', value: q.get('q') || '', hint: 'Title, venue or city', class: 'wide' }),
    field({ label: 'Category', name: 'category', value: q.get('category') || '', attrs: { list: 'categories' } }),
    field({ label: 'City', name: 'city', value: q.get('city') || '', attrs: { list: 'cities' } }),
    field({ label: 'From', name: 'from', type: 'date', value: q.get('from') || '' }),
    field({ label: 'To', name: 'to', type: 'date', value: q.get('to') || '' }),
    h('datalist', { id: 'categories' }, CATEGORIES.map((c) => h('option', { value: c }))),
    h('datalist', { id: 'cities' }, CITIES.map((c) => h('option', { value: c }))),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Search'),
      h('a', { href: '#/events', class: 'button secondary' }, 'Clear'),
    ),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const name of ['q', 'category', 'city', 'from', 'to']) {
      const v = form.elements[name].value.trim();
      if (v) next.set(name, v);
    }
    const s = next.toString();
    navigate(`/events${s ? `?${s}` : ''}`);
  });

  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' }, 'Loading events…');
  const list = h('ul', { class: 'cards', 'aria-label': 'Events' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more events');
  const searching = ['q', 'category', 'city', 'from', 'to'].some((k) => q.get(k));
  put(
    ctx.root,
    h('h1', {}, searching ? 'Search results' : 'Upcoming events'),
    form,
    status,
    list,
    h('div', { class: 'more' }, more),
  );

  const query = {
    q: q.get('q'),
    category: q.get('category'),
    city: q.get('city'),
    from: dayBound(q.get('from'), false),
    to: dayBound(q.get('to'), true),
    limit: PAGE,
  };
  let cursor = null;
  let shown = 0;
  async function loadPage() {
    more.disabled = true;
    try {
      const page = await api('/api/events', { query: { ...query, cursor }, signal: ctx.signal });
      list.append(...page.items.map(card));
      shown += page.items.length;
      cursor = page.next_cursor;
      more.hidden = !cursor;
      status.textContent = shown
        ? `${shown}${cursor ? '+' : ''} event${shown === 1 ? '' : 's'}${searching ? ' found' : ''}.`
        : searching
          ? 'No events match this search. Try fewer words or other filters.'
          : 'No events on sale yet.';
    } catch (err) {
      if (err.name === 'AbortError') return;
      if (err.field && form.elements[err.field]) {
        status.textContent = `${err.field}: ${err.message}`;
      } else {
        status.textContent = errorText(err);
      }
      status.classList.add('error');
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', async () => {
    const before = shown;
    await loadPage();
    // keep keyboard users where the new results start
    const first = list.querySelectorAll('li h2 a')[before];
    if (first) first.focus();
  });
  await loadPage();
}
