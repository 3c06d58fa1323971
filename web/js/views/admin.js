// SPDX-License-Identifier: Apache-2.0
// Organizer pages (admin role): #/admin (events and venues), #/admin/venues/new|<id> (POST /
// PATCH /api/venues), #/admin/events/new (POST /api/events with its tiers, created as a draft)
// and #/admin/events/<id> (PATCH, add tiers, publish, cancel). GET /api/events lists published
// events only, so the ids of events created or opened here are remembered in localStorage
// (bx.admin.events) to keep drafts and cancelled events reachable.
import { h, put, money, when, minorDigits, randomId, store, localToRfc3339, rfc3339ToLocal } from '../dom.js';
import { api, errorText } from '../api.js';
import { allVenues, rememberEvent } from '../catalog.js';
import { navigate, flash } from '../router.js';
import { field, busy, showError, checkForm, clearErrors, fieldError, formError } from '../forms.js';

const REMEMBER_KEY = 'bx.admin.events';
const REMEMBER_MAX = 200;
const CATEGORIES = ['classical', 'comedy', 'concert', 'jazz', 'rock', 'theatre', 'sports', 'family'];

function remember(id) {
  const ids = (store.get(REMEMBER_KEY) || []).filter((x) => x !== id);
  ids.unshift(id);
  store.set(REMEMBER_KEY, ids.slice(0, REMEMBER_MAX));
}

function statusBadge(status) {
  return h('span', { class: ['badge', `status-${status}`] }, status);
}

function tzHint() {
  const off = -new Date().getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const a = Math.abs(off);
  return `Your local time (UTC${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')})`;
}

/** "45.5" in currency → cents (integer), or null when it is not a price. */
function toCents(text, currency) {
  const digits = minorDigits(currency || 'EUR');
  const t = String(text || '').trim().replace(',', '.');
  if (!/^\d+(\.\d+)?$/.test(t)) return null;
  const [whole, frac = ''] = t.split('.');
  if (frac.length > digits) return null;
  return Number(whole) * 10 ** digits + Number((frac + '0'.repeat(digits)).slice(0, digits) || 0);
}

function intOrNull(v) {
  return v === '' || v === undefined || v === null ? null : Number(v);
}

/* ---------- #/admin ---------- */

export async function adminHome(ctx) {
  const openForm = h(
    'form',
    { class: 'inline', novalidate: true },
    field({ label: 'Open an event by id', name: 'id', required: true, attrs: { autocomplete: 'off' } }),
    h('button', { type: 'submit', class: 'secondary' }, 'Open'),
  );
  openForm.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!checkForm(openForm)) return;
    navigate(`/admin/events/${encodeURIComponent(openForm.elements.id.value.trim())}`);
  });
  const evStatus = h('p', { class: 'status', role: 'status' }, 'Loading events…');
  const evList = h('ul', { class: 'admin-list', 'aria-label': 'Events' });
  const venueStatus = h('p', { class: 'status', role: 'status' }, 'Loading venues…');
  const venueList = h('ul', { class: 'admin-list', 'aria-label': 'Venues' });
  put(
    ctx.root,
    h('h1', {}, 'Organizer'),
    h(
      'p',
      { class: 'actions' },
      h('a', { href: '#/admin/events/new', class: 'button primary' }, 'New event'),
      h('a', { href: '#/admin/venues/new', class: 'button secondary' }, 'New venue'),
      h('a', { href: '#/dashboard', class: 'button secondary' }, 'Sales dashboard'),
    ),
    h('section', { 'aria-labelledby': 'ev-h' }, h('h2', { id: 'ev-h' }, 'Events'), openForm, evStatus, evList),
    h('section', { 'aria-labelledby': 'venue-h' }, h('h2', { id: 'venue-h' }, 'Venues'), venueStatus, venueList),
  );

  const eventRow = (ev) => {
    rememberEvent(ev);
    return h(
      'li',
      {},
      h('span', { class: 'grow' }, h('a', { href: `#/admin/events/${ev.id}` }, ev.title), ' ', statusBadge(ev.status)),
      h('span', { class: 'hint' }, when(ev.starts_at, ev.venue && ev.venue.timezone)),
    );
  };

  const venuesP = allVenues(ctx.signal).then(
    (venues) => {
      venueList.replaceChildren(
        ...venues.map((v) => h('li', {}, h('span', { class: 'grow' }, h('a', { href: `#/admin/venues/${v.id}` }, v.name)), h('span', { class: 'hint' }, `${v.city}, ${v.country} · ${v.timezone}`))),
      );
      venueStatus.textContent = venues.length ? '' : 'No venues yet. Create one before your first event.';
    },
    (err) => {
      if (err.name !== 'AbortError') venueStatus.textContent = errorText(err);
    },
  );

  try {
    const seen = new Set();
    const remembered = store.get(REMEMBER_KEY) || [];
    const mine = await Promise.all(remembered.map((id) => api(`/api/events/${encodeURIComponent(id)}`, { signal: ctx.signal }).catch(() => null)));
    const published = [];
    let cursor = null;
    do {
      const page = await api('/api/events', { query: { limit: 100, cursor }, signal: ctx.signal });
      published.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && published.length < 1000);
    const rows = [];
    for (const ev of [...mine.filter(Boolean), ...published]) {
      if (seen.has(ev.id)) continue;
      seen.add(ev.id);
      rows.push(ev);
    }
    const order = { draft: 0, published: 1, cancelled: 2 };
    rows.sort((a, b) => (order[a.status] - order[b.status]) || a.starts_at.localeCompare(b.starts_at));
    evList.replaceChildren(...rows.map(eventRow));
    evStatus.textContent = rows.length ? `${rows.length} events (drafts and cancelled events you created or opened here are listed too).` : 'No events yet.';
  } catch (err) {
    if (err.name !== 'AbortError') evStatus.textContent = errorText(err);
  }
  await venuesP;
}

/* ---------- venues ---------- */

export async function venueView(ctx) {
  const id = ctx.params.id || null;
  let venue = null;
  if (id) {
    try {
      venue = await api(`/api/venues/${encodeURIComponent(id)}`, { signal: ctx.signal });
    } catch (err) {
      if (err.name === 'AbortError') return;
      put(ctx.root, h('h1', {}, 'Venue'), h('p', { class: 'error', role: 'alert' }, errorText(err)));
      return;
    }
  }
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  const v = venue || {};
  const form = h(
    'form',
    { novalidate: true, class: 'narrow' },
    field({ label: 'Name', name: 'name', value: v.name, required: true, attrs: { maxlength: 200 } }),
    field({ label: 'Address', name: 'address', value: v.address, required: true, attrs: { maxlength: 200 } }),
    field({ label: 'City', name: 'city', value: v.city, required: true, attrs: { maxlength: 100 } }),
    field({ label: 'Country', name: 'country', value: v.country, required: true, hint: 'Two-letter ISO code, e.g. GB', attrs: { maxlength: 2, pattern: '[A-Za-z]{2}', autocapitalize: 'characters' } }),
    field({ label: 'Time zone', name: 'timezone', value: v.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone, required: true, hint: 'IANA name, e.g. Europe/London', attrs: { list: 'zones' } }),
    h('datalist', { id: 'zones' }, zones.map((z) => h('option', { value: z }))),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, venue ? 'Save venue' : 'Create venue'), h('a', { href: '#/admin', class: 'button secondary' }, 'Back')),
  );
  put(ctx.root, h('p', { class: 'crumbs' }, h('a', { href: '#/admin' }, '← Organizer')), h('h1', {}, venue ? `Edit venue: ${venue.name}` : 'New venue'), form);
  const key = randomId(); // one create per form shown, however many clicks
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!checkForm(form)) return;
    const body = {};
    for (const k of ['name', 'address', 'city', 'country', 'timezone']) {
      let val = form.elements[k].value.trim();
      if (k === 'country') val = val.toUpperCase();
      if (!venue || venue[k] !== val) body[k] = val;
    }
    const btn = form.querySelector('button[type=submit]');
    try {
      if (venue) {
        if (!Object.keys(body).length) {
          flash('Nothing to save: no field changed.');
          navigate('/admin');
          return;
        }
        await busy(btn, () => api(`/api/venues/${encodeURIComponent(venue.id)}`, { method: 'PATCH', body }), 'Saving…');
        flash('Venue saved.');
      } else {
        const created = await busy(btn, () => api('/api/venues', { method: 'POST', body, idempotencyKey: key }), 'Creating…');
        flash(`Venue “${created.name}” created.`);
      }
      navigate('/admin');
    } catch (err) {
      showError(form, err);
    }
  });
}

/* ---------- events ---------- */

function eventFields(ev, venues) {
  const e = ev || {};
  return [
    field({ label: 'Title', name: 'title', value: e.title, required: true, attrs: { maxlength: 200 } }),
    field({ label: 'Category', name: 'category', value: e.category, required: true, attrs: { list: 'cats', maxlength: 50 } }),
    h('datalist', { id: 'cats' }, CATEGORIES.map((c) => h('option', { value: c }))),
    field({
      label: 'Venue',
      name: 'venue_id',
      value: e.venue_id,
      required: true,
      options: [['', venues.length ? 'Choose a venue' : 'No venues: create one first'], ...venues.map((v) => [v.id, `${v.name} (${v.city})`])],
    }),
    field({ label: 'Description', name: 'description', value: e.description, textarea: true, attrs: { maxlength: 5000 } }),
    h(
      'div',
      { class: 'row' },
      field({ label: 'Starts', name: 'starts_at', type: 'datetime-local', value: rfc3339ToLocal(e.starts_at), required: true, hint: tzHint() }),
      field({ label: 'Ends', name: 'ends_at', type: 'datetime-local', value: rfc3339ToLocal(e.ends_at), required: true, hint: tzHint() }),
    ),
    h(
      'div',
      { class: 'row' },
      field({ label: 'Sales start', name: 'sales_start', type: 'datetime-local', value: rfc3339ToLocal(e.sales_start), hint: 'Optional: on sale at once when empty' }),
      field({ label: 'Sales end', name: 'sales_end', type: 'datetime-local', value: rfc3339ToLocal(e.sales_end), hint: 'Optional: until the event ends' }),
    ),
    h(
      'div',
      { class: 'row' },
      field({ label: 'Image URL', name: 'image_url', type: 'url', value: e.image_url, hint: 'Optional, http(s)' }),
      field({ label: 'Tickets per customer', name: 'max_tickets_per_user', type: 'number', value: e.max_tickets_per_user, hint: 'Optional cap, 1–1000', attrs: { min: 1, max: 1000, step: 1 } }),
    ),
  ];
}

/* The event fields of a form as API values (times to RFC 3339, empties to null). */
function eventBody(form) {
  const el = form.elements;
  const text = (k) => el[k].value.trim();
  return {
    title: text('title'),
    category: text('category'),
    venue_id: text('venue_id'),
    description: text('description'),
    starts_at: localToRfc3339(text('starts_at')),
    ends_at: localToRfc3339(text('ends_at')),
    sales_start: localToRfc3339(text('sales_start')),
    sales_end: localToRfc3339(text('sales_end')),
    image_url: text('image_url') || null,
    max_tickets_per_user: intOrNull(text('max_tickets_per_user')),
  };
}

function tierFieldset(i, removable, onRemove) {
  const p = `tiers[${i}]`;
  const fs = h(
    'fieldset',
    { class: 'tier-row' },
    h('legend', {}, `Tier ${i + 1}`),
    h(
      'div',
      { class: 'row' },
      field({ label: 'Name', name: `${p}.name`, required: true, value: i === 0 ? 'Standard' : '', attrs: { maxlength: 100 } }),
      field({ label: 'Price', name: `${p}.price_cents`, required: true, hint: 'e.g. 45.00', attrs: { inputmode: 'decimal' } }),
      field({ label: 'Currency', name: `${p}.currency`, required: true, value: 'EUR', attrs: { maxlength: 3, pattern: '[A-Za-z]{3}' } }),
      field({ label: 'Capacity', name: `${p}.capacity`, type: 'number', required: true, attrs: { min: 1, max: 1000000, step: 1 } }),
      field({ label: 'Max per order', name: `${p}.max_per_order`, type: 'number', value: 10, attrs: { min: 1, max: 100, step: 1 } }),
    ),
    removable ? h('button', { type: 'button', class: 'secondary small', onclick: onRemove }, `Remove tier ${i + 1}`) : null,
  );
  return fs;
}

/* Reads one tier from the form (prefix "tiers[0]" or "" for the add-tier form); null after
 * showing a field error when the price does not parse. */
function tierBody(form, prefix) {
  const el = (k) => form.elements[prefix ? `${prefix}.${k}` : k];
  const currency = el('currency').value.trim().toUpperCase();
  const cents = toCents(el('price_cents').value, currency);
  if (cents === null) {
    const c = fieldError(form, el('price_cents').name, `Enter a price like 45.00 (at most ${minorDigits(currency)} decimals).`);
    if (c) c.focus();
    return null;
  }
  const t = { name: el('name').value.trim(), price_cents: cents, currency, capacity: Number(el('capacity').value) };
  const max = el('max_per_order').value.trim();
  if (max) t.max_per_order = Number(max);
  return t;
}

export async function eventNewView(ctx) {
  let venues = [];
  try {
    venues = await allVenues(ctx.signal);
  } catch (err) {
    if (err.name === 'AbortError') return;
  }
  const tiersBox = h('div', { class: 'tiers-box' });
  let count = 0;
  function renumber() {
    // keep names tiers[0..n-1] in order, as the API's field errors name them
    const sets = [...tiersBox.querySelectorAll('fieldset.tier-row')];
    const vals = sets.map((fs) => [...fs.querySelectorAll('input')].map((i) => i.value));
    tiersBox.replaceChildren();
    count = 0;
    for (const v of vals) addTier(v);
  }
  function addTier(vals) {
    const i = count++;
    const fs = tierFieldset(i, i > 0, () => {
      fs.remove();
      renumber();
      tiersBox.querySelector('input')?.focus();
    });
    if (vals) [...fs.querySelectorAll('input')].forEach((inp, k) => { inp.value = vals[k]; });
    tiersBox.append(fs);
    return fs;
  }
  addTier();
  const addBtn = h('button', { type: 'button', class: 'secondary' }, 'Add another tier');
  addBtn.addEventListener('click', () => addTier().querySelector('input').focus());

  const form = h(
    'form',
    { novalidate: true },
    eventFields(null, venues),
    h('h2', {}, 'Ticket tiers'),
    tiersBox,
    h('p', {}, addBtn),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create draft event'), h('a', { href: '#/admin', class: 'button secondary' }, 'Back')),
  );
  put(
    ctx.root,
    h('p', { class: 'crumbs' }, h('a', { href: '#/admin' }, '← Organizer')),
    h('h1', {}, 'New event'),
    venues.length ? null : h('p', { class: 'notice' }, 'There are no venues yet. ', h('a', { href: '#/admin/venues/new' }, 'Create a venue'), ' first.'),
    form,
  );
  const key = randomId();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!checkForm(form)) return;
    const b = eventBody(form);
    const body = { title: b.title, category: b.category, venue_id: b.venue_id, starts_at: b.starts_at, ends_at: b.ends_at };
    if (b.description) body.description = b.description;
    for (const k of ['sales_start', 'sales_end', 'image_url', 'max_tickets_per_user']) if (b[k] !== null) body[k] = b[k];
    body.tiers = [];
    for (let i = 0; i < count; i++) {
      const t = tierBody(form, `tiers[${i}]`);
      if (!t) return;
      body.tiers.push(t);
    }
    const btn = form.querySelector('button[type=submit]');
    try {
      const ev = await busy(btn, () => api('/api/events', { method: 'POST', body, idempotencyKey: key }), 'Creating…');
      remember(ev.id);
      rememberEvent(ev);
      flash(`Draft “${ev.title}” created. Publish it when it is ready to sell.`);
      navigate(`/admin/events/${ev.id}`);
    } catch (err) {
      showError(form, err);
    }
  });
}

export async function eventEditView(ctx) {
  const id = ctx.params.id;
  let ev;
  let venues = [];
  try {
    [ev, venues] = await Promise.all([api(`/api/events/${encodeURIComponent(id)}`, { signal: ctx.signal }), allVenues(ctx.signal)]);
  } catch (err) {
    if (err.name === 'AbortError') return;
    put(ctx.root, h('p', { class: 'crumbs' }, h('a', { href: '#/admin' }, '← Organizer')), h('h1', {}, 'Event'), h('p', { class: 'error', role: 'alert' }, errorText(err)));
    return;
  }
  remember(ev.id);
  rememberEvent(ev);

  const badge = statusBadge(ev.status);
  const lifecycle = h('div', { class: 'actions' });
  const lifeMsg = h('p', { role: 'alert', class: 'error' });
  const form = h(
    'form',
    { novalidate: true },
    eventFields(ev, venues),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save changes')),
  );
  const tierTable = h('tbody');
  const addTier = h(
    'form',
    { novalidate: true, class: 'add-tier' },
    h(
      'div',
      { class: 'row' },
      field({ label: 'Name', name: 'name', required: true, attrs: { maxlength: 100 } }),
      field({ label: 'Price', name: 'price_cents', required: true, hint: 'e.g. 45.00', attrs: { inputmode: 'decimal' } }),
      field({ label: 'Currency', name: 'currency', required: true, value: (ev.tiers[0] && ev.tiers[0].currency) || 'EUR', attrs: { maxlength: 3 } }),
      field({ label: 'Capacity', name: 'capacity', type: 'number', required: true, attrs: { min: 1, max: 1000000, step: 1 } }),
      field({ label: 'Max per order', name: 'max_per_order', type: 'number', value: 10, attrs: { min: 1, max: 100, step: 1 } }),
    ),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'secondary' }, 'Add tier')),
  );

  put(
    ctx.root,
    h('p', { class: 'crumbs' }, h('a', { href: '#/admin' }, '← Organizer')),
    h('h1', {}, ev.title, ' ', badge),
    h('p', { class: 'hint mono' }, `Event id ${ev.id}`),
    h('p', {}, h('a', { href: `#/events/${ev.id}` }, 'View the public page'), ' · ', h('a', { href: `#/dashboard?event=${ev.id}` }, 'Sales of this event')),
    lifecycle,
    lifeMsg,
    h('section', { 'aria-labelledby': 'tiers-h' }, h('h2', { id: 'tiers-h' }, 'Ticket tiers'),
      h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Price'), h('th', { scope: 'col' }, 'Capacity'), h('th', { scope: 'col' }, 'Max per order'))), tierTable)),
      h('h3', {}, 'Add a tier'), addTier),
    h('section', { 'aria-labelledby': 'details-h' }, h('h2', { id: 'details-h' }, 'Details'), form),
  );

  function renderTiers() {
    tierTable.replaceChildren(...ev.tiers.map((t) => h('tr', {}, h('td', {}, t.name), h('td', {}, money(t.price_cents, t.currency)), h('td', {}, String(t.capacity)), h('td', {}, String(t.max_per_order)))));
  }
  function renderLifecycle() {
    badge.className = `badge status-${ev.status}`;
    badge.textContent = ev.status;
    lifecycle.replaceChildren();
    if (ev.status === 'draft') {
      const pub = h('button', { type: 'button', class: 'primary' }, 'Publish');
      pub.addEventListener('click', async () => {
        lifeMsg.textContent = '';
        try {
          ev = await busy(pub, () => api(`/api/events/${encodeURIComponent(ev.id)}/publish`, { method: 'POST' }), 'Publishing…');
          rememberEvent(ev);
          renderLifecycle();
          lifeMsg.className = 'ok';
          lifeMsg.textContent = 'Published: the event is on the public list now.';
        } catch (err) {
          lifeMsg.className = 'error';
          lifeMsg.textContent = errorText(err);
        }
      });
      lifecycle.append(pub);
    }
    if (ev.status !== 'cancelled') {
      const cancel = h('button', { type: 'button', class: 'danger' }, 'Cancel event');
      cancel.addEventListener('click', () => {
        const yes = h('button', { type: 'button', class: 'danger' }, 'Yes, cancel the event');
        const no = h('button', { type: 'button', class: 'secondary' }, 'No');
        lifecycle.replaceChildren(
          h('div', { class: 'confirm', role: 'group', 'aria-labelledby': 'cancel-ev-q' },
            h('p', { id: 'cancel-ev-q' }, 'Cancel this event? Sales stop, and every order of it is cancelled and its tickets revoked. This cannot be undone.'),
            h('div', { class: 'actions' }, yes, no)),
        );
        no.focus();
        no.addEventListener('click', renderLifecycle);
        yes.addEventListener('click', async () => {
          try {
            ev = await busy(yes, () => api(`/api/events/${encodeURIComponent(ev.id)}/cancel`, { method: 'POST' }), 'Cancelling…');
            rememberEvent(ev);
            renderLifecycle();
            lifeMsg.className = 'ok';
            lifeMsg.textContent = 'The event was cancelled.';
          } catch (err) {
            lifeMsg.className = 'error';
            lifeMsg.textContent = errorText(err);
          }
        });
      });
      lifecycle.append(cancel);
    }
  }
  renderTiers();
  renderLifecycle();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!checkForm(form)) return;
    const b = eventBody(form);
    const body = {};
    const times = ['starts_at', 'ends_at', 'sales_start', 'sales_end'];
    for (const [k, v] of Object.entries(b)) {
      const was = ev[k] === undefined ? null : ev[k];
      if (k === 'description' && (was || '') === v) continue;
      // the inputs show minutes: a time whose minute did not change keeps its seconds
      if (times.includes(k) && rfc3339ToLocal(was) === form.elements[k].value) continue;
      if (v !== was) body[k] = v;
    }
    const btn = form.querySelector('button[type=submit]');
    clearErrors(form);
    if (!Object.keys(body).length) {
      put(formError(form), 'Nothing to save: no field changed.');
      return;
    }
    try {
      ev = await busy(btn, () => api(`/api/events/${encodeURIComponent(ev.id)}`, { method: 'PATCH', body }), 'Saving…');
      rememberEvent(ev);
      flash('Event saved.');
      navigate(`/admin/events/${ev.id}`);
    } catch (err) {
      showError(form, err);
    }
  });

  const tierKey = { value: randomId() };
  addTier.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!checkForm(addTier)) return;
    const t = tierBody(addTier, '');
    if (!t) return;
    const btn = addTier.querySelector('button[type=submit]');
    try {
      const created = await busy(btn, () => api(`/api/events/${encodeURIComponent(ev.id)}/tiers`, { method: 'POST', body: t, idempotencyKey: tierKey.value }), 'Adding…');
      tierKey.value = randomId();
      ev.tiers = [...ev.tiers, created];
      renderTiers();
      addTier.reset();
      addTier.elements.currency.value = created.currency;
      addTier.elements.max_per_order.value = 10;
      lifeMsg.className = 'ok';
      lifeMsg.textContent = `Tier “${created.name}” added.`;
    } catch (err) {
      showError(addTier, err);
    }
  });
}

