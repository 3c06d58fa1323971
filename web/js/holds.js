// SPDX-License-Identifier: Apache-2.0
// Checkout state that must survive a refresh, in localStorage:
//   bx.hold           the current hold (Hold + event title, tier name, owner) for the banner and
//                     the checkout page;
//   bx.checkout.<id>  per hold: the Idempotency-Key made once for its POST /api/orders, and the
//                     order id once known. Re-sending the same key replays the first order, so a
//                     double click, a retry after a network error, or a refresh mid-request can
//                     never make a second order. Entries older than CHECKOUT_KEEP_MS are pruned
//                     (the server keeps keys at least 24 h; a hold lives minutes).
import { store, randomId } from './dom.js';
import { user } from './session.js';
import { serverNow } from './api.js';

const HOLD_KEY = 'bx.hold';
const CHECKOUT_PREFIX = 'bx.checkout.';
const CHECKOUT_KEEP_MS = 24 * 3600 * 1000;

export function currentHold() {
  const hold = store.get(HOLD_KEY);
  const u = user();
  if (!hold || !u || hold.user_id !== u.id) return null;
  return hold;
}

export function saveHold(hold, extra) {
  const u = user();
  store.set(HOLD_KEY, { ...hold, ...extra, user_id: u ? u.id : null });
  document.dispatchEvent(new CustomEvent('bx:hold'));
}

export function forgetHold(id) {
  const hold = store.get(HOLD_KEY);
  if (hold && (!id || hold.id === id)) {
    store.remove(HOLD_KEY);
    document.dispatchEvent(new CustomEvent('bx:hold'));
  }
}

export function secondsLeft(hold) {
  return Math.max(0, (Date.parse(hold.expires_at) - serverNow()) / 1000);
}

export function checkout(holdId) {
  return store.get(CHECKOUT_PREFIX + holdId);
}

/** The hold's Idempotency-Key: made on first use, then always the same one. */
export function idempotencyKey(holdId) {
  const c = checkout(holdId);
  if (c && c.key) return c.key;
  const fresh = { key: `order-${holdId}-${randomId()}`, order_id: null, at: Date.now() };
  store.set(CHECKOUT_PREFIX + holdId, fresh);
  return fresh.key;
}

export function rememberOrder(holdId, orderId) {
  const c = checkout(holdId) || { key: null, at: Date.now() };
  store.set(CHECKOUT_PREFIX + holdId, { ...c, order_id: orderId });
}

export function pruneCheckouts() {
  try {
    for (let i = localStorage.length - 1; i >= 0; i--) {
      const k = localStorage.key(i);
      if (!k || !k.startsWith(CHECKOUT_PREFIX)) continue;
      const c = store.get(k);
      if (!c || !c.at || Date.now() - c.at > CHECKOUT_KEEP_MS) store.remove(k);
    }
  } catch {
    /* storage unavailable */
  }
}
