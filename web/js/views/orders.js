// SPDX-License-Identifier: Apache-2.0
// #/orders: the signed-in user's orders, newest first (GET /api/orders, "Load more" by cursor);
// admins see everyone's, as the API gives them.
import { h, put, money, when, shortId } from '../dom.js';
import { api, errorText } from '../api.js';
import { eventTitle } from '../catalog.js';
import { hasRole } from '../session.js';

const PAGE = 20;

function row(o) {
  const title = h('span', { class: 'event-title' }, '…');
  eventTitle(o.event_id).then((t) => {
    title.textContent = t;
  });
  return h(
    'li',
    { class: 'card order-card' },
    h('h2', {}, h('a', { href: `#/orders/${encodeURIComponent(o.id)}` }, title, h('span', { class: 'visually-hidden' }, `, order ${shortId(o.id)}`))),
    h(
      'p',
      { class: 'meta' },
      `${o.quantity} ticket${o.quantity === 1 ? '' : 's'} · ${money(o.amount_cents, o.currency)} · `,
      h('span', { class: ['badge', `status-${o.status}`] }, o.status),
    ),
    h('p', { class: 'meta' }, `Order ${shortId(o.id)}, placed `, h('time', { datetime: o.created_at }, when(o.created_at))),
  );
}

export default async function ordersView(ctx) {
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' }, 'Loading your orders…');
  const list = h('ul', { class: 'cards', 'aria-label': 'Orders' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more orders');
  put(ctx.root, h('h1', {}, hasRole('admin') ? 'Orders (all customers)' : 'My orders'), status, list, h('div', { class: 'more' }, more));
  let cursor = null;
  let shown = 0;
  async function load() {
    more.disabled = true;
    try {
      const page = await api('/api/orders', { query: { limit: PAGE, cursor }, signal: ctx.signal });
      list.append(...page.items.map(row));
      shown += page.items.length;
      cursor = page.next_cursor;
      more.hidden = !cursor;
      status.textContent = shown ? `${shown}${cursor ? '+' : ''} order${shown === 1 ? '' : 's'}.` : 'You have no orders yet.';
      if (!shown) status.append(' ', h('a', { href: '#/events' }, 'Find an event'));
    } catch (err) {
      if (err.name === 'AbortError') return;
      status.textContent = errorText(err);
      status.classList.add('error');
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', async () => {
    const before = shown;
    await load();
    const first = list.querySelectorAll('li h2 a')[before];
    if (first) first.focus();
  });
  await load();
}
