// SPDX-License-Identifier: Apache-2.0
// #/holds/<id>: the checkout of one hold. It shows a countdown to expires_at and confirms with
// POST /api/orders {hold_id} and the hold's Idempotency-Key, made once and kept in localStorage
// (holds.js). The button is disabled while the request is in flight; a second click, a retry
// after a network error or a refresh that re-sends can only replay the same order. After a
// refresh, a hold found confirmed is resolved to its order by replaying with the stored key.
import { h, put, money, clock } from '../dom.js';
import { api, errorText } from '../api.js';
import { getEvent, tierOf } from '../catalog.js';
import { navigate } from '../router.js';
import { saveHold, forgetHold, secondsLeft, checkout, idempotencyKey, rememberOrder } from '../holds.js';

export default async function checkoutView(ctx) {
  const id = ctx.params.id;
  put(ctx.root, h('h1', {}, 'Checkout'), h('p', { class: 'status', role: 'status' }, 'Loading your hold…'));

  const state = checkout(id);
  if (state && state.order_id) {
    navigate(`/orders/${state.order_id}`, { replace: true });
    return;
  }

  let hold;
  try {
    hold = await api(`/api/holds/${encodeURIComponent(id)}`, { signal: ctx.signal });
  } catch (err) {
    if (err.name === 'AbortError') return;
    if (err.code === 'not_found') forgetHold(id);
    put(
      ctx.root,
      h('h1', {}, 'Checkout'),
      h('p', { class: 'error', role: 'alert' }, err.code === 'not_found' ? 'This hold does not exist (or belongs to another account).' : errorText(err)),
      h('p', {}, h('a', { href: '#/events' }, 'Browse events')),
    );
    return;
  }

  let ev = null;
  try {
    ev = await getEvent(hold.event_id, { signal: ctx.signal });
  } catch (err) {
    if (err.name === 'AbortError') return;
  }
  const tier = ev ? tierOf(ev, hold.tier_id) : null;
  const title = ev ? ev.title : 'your event';

  const msg = h('p', { class: 'checkout-msg', role: 'alert' });
  const confirmBtn = h('button', { type: 'button', class: 'primary big' }, `Confirm purchase · ${money(hold.amount_cents, hold.currency)}`);
  const releaseBtn = h('button', { type: 'button', class: 'secondary' }, 'Release tickets');
  const timer = h('span', { class: 'countdown-time' }, clock(secondsLeft(hold)));
  const countdown = h('p', { class: 'countdown', role: 'timer', 'aria-live': 'off' }, 'Your tickets are held for ', timer, ' more.');
  const announce = h('p', { class: 'visually-hidden', 'aria-live': 'polite' });

  put(
    ctx.root,
    h('p', { class: 'crumbs' }, h('a', { href: `#/events/${hold.event_id}` }, `← ${title}`)),
    h('h1', {}, 'Checkout'),
    h(
      'dl',
      { class: 'summary' },
      h('dt', {}, 'Event'), h('dd', {}, ev ? h('a', { href: `#/events/${ev.id}` }, ev.title) : title),
      h('dt', {}, 'Tickets'), h('dd', {}, `${hold.quantity} × ${tier ? tier.name : 'ticket'}`),
      h('dt', {}, 'Total'), h('dd', { class: 'total' }, money(hold.amount_cents, hold.currency)),
    ),
    countdown,
    announce,
    h('div', { class: 'actions' }, confirmBtn, releaseBtn),
    msg,
  );

  let done = false;
  function finished(text, isError) {
    done = true;
    countdown.hidden = true;
    confirmBtn.disabled = true;
    releaseBtn.hidden = true;
    msg.className = `checkout-msg ${isError ? 'error' : 'ok'}`;
    put(msg, text, ' ', h('a', { href: `#/events/${hold.event_id}` }, 'Choose tickets again'));
  }

  let inFlight = false;
  async function confirmOrder() {
    if (inFlight) return;
    inFlight = true;
    confirmBtn.disabled = true;
    releaseBtn.disabled = true;
    confirmBtn.setAttribute('aria-busy', 'true');
    msg.className = 'checkout-msg';
    msg.textContent = 'Placing your order…';
    const key = idempotencyKey(hold.id);
    try {
      const order = await api('/api/orders', { method: 'POST', body: { hold_id: hold.id }, idempotencyKey: key });
      rememberOrder(hold.id, order.id);
      forgetHold(hold.id);
      navigate(`/orders/${order.id}`, { replace: true });
      return;
    } catch (err) {
      msg.className = 'checkout-msg error';
      if (err.code === 'hold_expired') {
        forgetHold(hold.id);
        finished(errorText(err), true);
        return;
      }
      if (err.code === 'conflict') {
        // confirmed already (by another tab without our key) or released
        msg.textContent = `${err.message} See `;
        msg.append(h('a', { href: '#/orders' }, 'My orders'), '.');
        forgetHold(hold.id);
        return;
      }
      msg.textContent = err.code === 'network'
        ? 'We could not confirm your order: the connection dropped. Pressing Confirm again is safe; it will never make a second order.'
        : errorText(err);
      confirmBtn.disabled = secondsLeft(hold) <= 0;
      releaseBtn.disabled = false;
    } finally {
      inFlight = false;
      confirmBtn.removeAttribute('aria-busy');
    }
  }

  confirmBtn.addEventListener('click', confirmOrder);
  releaseBtn.addEventListener('click', async () => {
    releaseBtn.disabled = true;
    try {
      await api(`/api/holds/${encodeURIComponent(hold.id)}`, { method: 'DELETE' });
      forgetHold(hold.id);
      finished('Your tickets were released.', false);
    } catch (err) {
      msg.className = 'checkout-msg error';
      msg.textContent = errorText(err);
      releaseBtn.disabled = false;
    }
  });

  if (hold.status === 'confirmed') {
    forgetHold(hold.id);
    if (state && state.key) {
      // bought from this browser: the same key gives back the same order
      confirmBtn.hidden = true;
      await confirmOrder();
      return;
    }
    finished('These tickets have already been bought.', false);
    put(msg, 'These tickets have already been bought. ', h('a', { href: '#/orders' }, 'See my orders'));
    return;
  }
  if (hold.status !== 'active' || secondsLeft(hold) <= 0) {
    forgetHold(hold.id);
    finished(hold.status === 'released' ? 'This hold was released; its tickets went back on sale.' : 'This hold has expired and its tickets went back on sale.', true);
    return;
  }
  saveHold(hold, { event_title: title, tier_name: tier ? tier.name : '' });

  let announcedMinute = false;
  ctx.every(() => {
    if (done) return;
    const left = secondsLeft(hold);
    timer.textContent = clock(left);
    countdown.classList.toggle('urgent', left <= 60);
    if (left <= 60 && !announcedMinute) {
      announcedMinute = true;
      announce.textContent = 'One minute left to confirm your purchase.';
    }
    if (left <= 0 && !inFlight) {
      forgetHold(hold.id);
      finished('Time is up: your hold has expired and the tickets went back on sale.', true);
    }
  }, 1000);
}
