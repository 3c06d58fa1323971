// SPDX-License-Identifier: Apache-2.0
// The signed-in user: the Session from POST /api/sessions ({token, expires_at, user}) kept in
// localStorage under "bx.session", so a refresh or a second tab stays signed in. Listeners hear
// every change, including those made in other tabs (the storage event).
import { store } from './dom.js';

const KEY = 'bx.session';
const listeners = new Set();

export function session() {
  const s = store.get(KEY);
  if (!s || typeof s.token !== 'string' || !s.user) return null;
  if (s.expires_at && Date.parse(s.expires_at) <= Date.now()) {
    store.remove(KEY);
    return null;
  }
  return s;
}

export function user() {
  const s = session();
  return s ? s.user : null;
}

export function token() {
  const s = session();
  return s ? s.token : null;
}

/** True when the signed-in user has one of the roles. */
export function hasRole(...roles) {
  const u = user();
  return !!u && roles.includes(u.role);
}

export function setSession(s) {
  store.set(KEY, s);
  notify();
}

export function clearSession() {
  if (store.get(KEY) === null) return;
  store.remove(KEY);
  notify();
}

export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function notify() {
  for (const fn of listeners) fn(user());
}

window.addEventListener('storage', (e) => {
  if (e.key === KEY || e.key === null) notify();
});
