// SPDX-License-Identifier: Apache-2.0
// #/events/<id>: one event with its tiers, prices and live availability (GET
// /api/events/{id}/availability every AVAILABILITY_POLL_MS while the page is visible), and the
// "hold tickets" step (POST /api/holds), which leads to the checkout page of the new hold.
import { h, put, money, when } from '../dom.js';
import { api, errorText, serverNow } from '../api.js';
import { getEvent, rememberEvent } from '../catalog.js';
import { navigate } from '../router.js';
import { user, hasRole } from '../session.js';
import { busy } from '../forms.js';
import { currentHold, saveHold, secondsLeft } from '../holds.js';

const AVAILABILITY_POLL_MS = 3000;

function salesState(ev) {
  const now = serverNow();
  if (ev.status === 'cancelled') return { open: false, note: 'This event has been cancelled. Tickets are no longer sold.' };
  if (ev.status === 'draft') return { open: false, note: 'Draft: customers cannot see this event until it is published.' };
  if (ev.sales_start && Date.parse(ev.sales_start) > now) {
    return { open: false, note: `Tickets go on sale ${when(ev.sales_start, ev.venue && ev.venue.timezone)}.` };
  }
  const end = ev.sales_end || ev.ends_at;
  if (end && Date.parse(end) <= now) return { open: false, note: 'Ticket sales for this event have ended.' };
  return { open: true, note: null };
}

export default async function eventView(ctx) {
  const id = ctx.params.id;
  put(ctx.root, h('h1', {}, 'Event'), h('p', { class: 'status', role: 'status' }, 'Loading…'));
  let ev;
  try {
    ev = await getEvent(id, { fresh: true, signal: ctx.signal });
    rememberEvent(ev);
  } catch (err) {
    if (err.name === 'AbortError') return;
    put(
      ctx.root,
      h('h1', {}, err.code === 'not_found' ? 'Event not found' : 'Event'),
      h('p', { class: 'error', role: 'alert' }, err.code === 'not_found' ? 'This event does not exist or is not published.' : errorText(err)),
      h('p', {}, h('a', { href: '#/events' }, 'Back to events')),
    );
    return;
  }
  const tz = ev.venue && ev.venue.timezone;
  const sales = salesState(ev);
  const held = currentHold();

  const tierRows = new Map(); // tier id → {available, qty, button, msg, max}
  const list = h('ul', { class: 'tiers', 'aria-label': 'Ticket tiers' });
  const updated = h('p', { class: 'hint live-note' }, 'Checking availability…');

  for (const t of ev.tiers || []) {
    const available = h('span', { class: 'available' }, '…');
    const qtyId = `qty-${t.id}`;
    const qty = h('select', { id: qtyId, name: 'quantity', 'aria-describedby': `msg-${t.id}` });
    const button = h('button', { type: 'button', class: 'primary', disabled: !sales.open }, 'Hold tickets');
    const msg = h('p', { class: 'tier-msg', id: `msg-${t.id}`, role: 'alert' });
    const row = { t, available, qty, button, msg, max: 0 };
    setQuantityMax(row, Math.min(t.max_per_order || 10, t.capacity));
    button.addEventListener('click', () => hold(row));
    tierRows.set(t.id, row);
    list.append(
      h(
        'li',
        { class: 'tier' },
        h('div', { class: 'tier-name' }, h('h3', {}, t.name), h('p', { class: 'price' }, money(t.price_cents, t.currency))),
        h('p', { class: 'tier-avail' }, available, ' available'),
        h(
          'div',
          { class: 'tier-buy' },
          h('label', { for: qtyId }, 'Quantity', h('span', { class: 'visually-hidden' }, ` of ${t.name}`)),
          qty,
          button,
        ),
        msg,
      ),
    );
  }

  put(
    ctx.root,
    h('p', { class: 'crumbs' }, h('a', { href: '#/events' }, '← All events')),
    h('h1', {}, ev.title),
    h(
      'div',
      { class: 'event-meta' },
      h('p', {}, h('time', { datetime: ev.starts_at }, when(ev.starts_at, tz)), ' – ', h('time', { datetime: ev.ends_at }, when(ev.ends_at, tz))),
      ev.venue
        ? h('p', {}, h('strong', {}, ev.venue.name), `, ${ev.venue.address}, ${ev.venue.city}, ${ev.venue.country}`)
        : null,
      h('p', { class: 'tags' }, h('span', { class: 'badge' }, ev.category), ev.max_tickets_per_user ? ` At most ${ev.max_tickets_per_user} tickets per customer.` : null),
    ),
    ev.description ? h('p', { class: 'description' }, ev.description) : null,
    sales.note ? h('p', { class: ['notice', ev.status === 'cancelled' ? 'error' : null] }, sales.note) : null,
    held && held.event_id === ev.id
      ? h('p', { class: 'notice' }, `You are holding ${held.quantity} ticket${held.quantity === 1 ? '' : 's'} (${held.tier_name}). `, h('a', { href: `#/holds/${held.id}` }, 'Continue to checkout'))
      : null,
    hasRole('admin') ? h('p', {}, h('a', { href: `#/admin/events/${ev.id}`, class: 'button secondary' }, 'Edit this event')) : null,
    h('section', { 'aria-labelledby': 'tickets-h' }, h('h2', { id: 'tickets-h' }, 'Tickets'), (ev.tiers || []).length ? list : h('p', {}, 'No tickets have been put on sale for this event yet.'), updated),
  );

  function setQuantityMax(row, max) {
    max = Math.max(0, Math.min(max, ev.max_tickets_per_user || 100, 100));
    if (max === row.max) return;
    const keep = Number(row.qty.value) || 1;
    row.max = max;
    row.qty.replaceChildren(...Array.from({ length: Math.max(max, 1) }, (_, i) => h('option', { value: i + 1 }, String(i + 1))));
    row.qty.value = String(Math.min(keep, Math.max(max, 1)));
    row.qty.disabled = max === 0;
  }

  async function hold(row) {
    row.msg.textContent = '';
    row.msg.className = 'tier-msg';
    if (!user()) {
      navigate(`/login?next=${encodeURIComponent(`/events/${ev.id}`)}`);
      return;
    }
    const previous = currentHold();
    try {
      const created = await busy(row.button, () => api('/api/holds', {
        method: 'POST',
        body: { event_id: ev.id, tier_id: row.t.id, quantity: Number(row.qty.value) },
      }), 'Holding…');
      saveHold(created, { event_title: ev.title, tier_name: row.t.name });
      if (previous && previous.id !== created.id && secondsLeft(previous) > 0) {
        // one checkout at a time: the older hold gives its seats back
        api(`/api/holds/${encodeURIComponent(previous.id)}`, { method: 'DELETE' }).catch(() => {});
      }
      navigate(`/holds/${created.id}`);
    } catch (err) {
      row.msg.classList.add('error');
      row.msg.textContent = errorText(err);
      if (err.code === 'unauthorized') {
        row.msg.append(' ', h('a', { href: `#/login?next=${encodeURIComponent(`/events/${ev.id}`)}` }, 'Log in'));
      }
      if (err.code === 'sold_out' || err.code === 'not_on_sale') refresh();
    }
  }

  async function refresh() {
    if (document.hidden) return;
    try {
      const av = await api(`/api/events/${encodeURIComponent(ev.id)}/availability`, { signal: ctx.signal });
      for (const a of av.tiers || []) {
        const row = tierRows.get(a.tier_id);
        if (!row) continue;
        row.available.textContent = String(a.available);
        const soldOut = a.available <= 0;
        row.available.classList.toggle('sold-out', soldOut);
        setQuantityMax(row, Math.min(row.t.max_per_order || 10, a.available));
        row.button.disabled = !sales.open || soldOut;
        row.button.textContent = soldOut ? 'Sold out' : 'Hold tickets';
      }
      updated.textContent = `Live availability, updated ${new Date().toLocaleTimeString()}.`;
      updated.classList.remove('error');
    } catch (err) {
      if (err.name === 'AbortError') return;
      updated.textContent = err.code === 'rate_limited'
        ? errorText(err)
        : `Live availability is paused. ${errorText(err)} Retrying…`;
      updated.classList.add('error');
    }
  }
  await refresh();
  ctx.every(refresh, AVAILABILITY_POLL_MS);
}
