// SPDX-License-Identifier: Apache-2.0
// Events and venues by id, remembered for the life of the page (order lists name their events;
// titles do not change often enough to matter). Failures are not remembered.
import { api } from './api.js';

const events = new Map();

export function getEvent(id, opts = {}) {
  if (!opts.fresh && events.has(id)) return events.get(id);
  const p = api(`/api/events/${encodeURIComponent(id)}`, { signal: opts.signal }).catch((err) => {
    events.delete(id);
    throw err;
  });
  events.set(id, p);
  return p;
}

export function rememberEvent(ev) {
  events.set(ev.id, Promise.resolve(ev));
}

const missing = new Set(); // ids catalog answered 404 for: not asked again

/** The event's title, or a neutral placeholder when it cannot be read. */
export async function eventTitle(id) {
  const fallback = `Event …${String(id).slice(-6)}`;
  if (missing.has(id)) return fallback;
  try {
    return (await getEvent(id)).title;
  } catch (err) {
    if (err && err.code === 'not_found') missing.add(id);
    return fallback;
  }
}

/** Every venue (pages of 100, bounded at VENUES_MAX). */
const VENUES_MAX = 1000;
export async function allVenues(signal) {
  const out = [];
  let cursor = null;
  do {
    const page = await api('/api/venues', { query: { limit: 100, cursor }, signal });
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && out.length < VENUES_MAX);
  return out;
}

export function tierOf(ev, tierId) {
  return (ev.tiers || []).find((t) => t.id === tierId) || null;
}
