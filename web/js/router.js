// SPDX-License-Identifier: Apache-2.0
// Hash routing (#/events/<id>?q=...): a table of path patterns, each with its view and who may
// see it. Every navigation ends the previous view's context (its AbortSignal fires, its timers
// and leave hooks run), so no poll of a page you left keeps running. Views get
// {root, params, query, signal, every, onLeave, path}.
import { h, put } from './dom.js';
import { session, user } from './session.js';

let routes = [];
let flashText = null;

/** A one-line message shown at the top of the next page (e.g. "Venue saved."). */
export function flash(text) {
  flashText = text;
}
let current = null; // {ctl, timers, leaves}
let renderId = 0;

/** routes: [{path: '/events/:id', view, auth?: true, roles?: ['admin']}] */
export function startRouter(table, main) {
  routes = table.map((r) => ({
    ...r,
    re: new RegExp(`^${r.path.replace(/:[a-z_]+/g, '([^/]+)')}/?$`),
    keys: [...r.path.matchAll(/:([a-z_]+)/g)].map((m) => m[1]),
  }));
  window.addEventListener('hashchange', () => render(main));
  render(main);
}

export function navigate(path, { replace = false } = {}) {
  const hash = `#${path}`;
  if (location.hash === hash) {
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else if (replace) {
    history.replaceState(null, '', hash);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = hash;
  }
}

/** The current path with its query, e.g. "/events/1?x=y" (for "log in, then come back"). */
export function currentPath() {
  const raw = location.hash.replace(/^#/, '');
  return raw.startsWith('/') ? raw : '/';
}

export function rerender() {
  window.dispatchEvent(new HashChangeEvent('hashchange'));
}

function leave() {
  if (!current) return;
  current.ctl.abort();
  for (const t of current.timers) clearInterval(t);
  for (const fn of current.leaves) {
    try {
      fn();
    } catch {
      /* a leave hook must not stop the next page */
    }
  }
  current = null;
}

async function render(main) {
  const raw = currentPath();
  const [path, qs = ''] = raw.split('?');
  leave();
  const id = ++renderId;
  // Each page renders into a fresh container: a view still finishing an await after the user left
  // writes into its own detached element, never into the next page.
  const root = h('div', { class: 'page' });
  main.replaceChildren(root);
  const ctx = {
    root,
    path: raw,
    params: {},
    query: new URLSearchParams(qs),
    signal: null,
    every(fn, ms) {
      const t = setInterval(fn, ms);
      me.timers.push(t);
      return t;
    },
    onLeave(fn) {
      me.leaves.push(fn);
    },
    alive() {
      return id === renderId;
    },
  };
  const me = { ctl: new AbortController(), timers: [], leaves: [] };
  ctx.signal = me.ctl.signal;
  current = me;

  if (flashText) {
    main.prepend(h('p', { class: 'flash ok', role: 'status' }, flashText));
    flashText = null;
  }
  const route = routes.find((r) => r.re.test(path));
  document.dispatchEvent(new CustomEvent('bx:route', { detail: { path } }));
  if (!route) {
    put(root, h('h1', { tabindex: '-1' }, 'Page not found'), h('p', {}, h('a', { href: '#/' }, 'Back to events')));
    focusHeading(root);
    return;
  }
  const m = path.match(route.re);
  route.keys.forEach((k, i) => {
    ctx.params[k] = decodeURIComponent(m[i + 1]);
  });
  if ((route.auth || route.roles) && !session()) {
    navigate(`/login?next=${encodeURIComponent(raw)}`, { replace: true });
    return;
  }
  if (route.roles && !route.roles.includes(user().role)) {
    put(
      root,
      h('h1', { tabindex: '-1' }, 'Not allowed'),
      h('p', {}, `This page is for ${route.roles.join(' or ')} accounts. You are signed in as ${user().email} (${user().role}).`),
    );
    focusHeading(root);
    return;
  }
  try {
    await route.view(ctx);
  } catch (err) {
    if (err && err.name === 'AbortError') return;
    if (id !== renderId) return;
    console.error(err);
    put(root, h('h1', { tabindex: '-1' }, 'Something went wrong'), h('p', { role: 'alert' }, String(err && err.message ? err.message : err)));
  }
  if (id === renderId) focusHeading(root);
}

let firstRender = true;
function focusHeading(root) {
  const title = root.querySelector('h1');
  document.title = title && title.textContent.trim() ? `${title.textContent.trim()} · boxoffice` : 'boxoffice';
  // Moving focus to the new page's heading tells screen readers the page changed; skipped on
  // the first load so the browser's own start position is kept.
  if (firstRender) {
    firstRender = false;
    return;
  }
  const h1 = root.querySelector('h1');
  if (h1) {
    if (!h1.hasAttribute('tabindex')) h1.setAttribute('tabindex', '-1');
    h1.focus({ preventScroll: false });
  }
}
