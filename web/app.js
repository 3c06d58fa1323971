// SPDX-License-Identifier: Apache-2.0
// The web UI's entry point: the route table, the navigation bar (which follows the signed-in
// user's role), and the banner that keeps a held order in view on every page. Plain ES modules
// served as they are by the gateway; no build step. Views live in js/views/.
import { h, put, clock } from './js/dom.js';
import { startRouter, currentPath, rerender } from './js/router.js';
import { user, onSessionChange } from './js/session.js';
import { currentHold, forgetHold, secondsLeft, pruneCheckouts } from './js/holds.js';
import eventsView from './js/views/events.js';
import eventView from './js/views/event.js';
import checkoutView from './js/views/checkout.js';
import ordersView from './js/views/orders.js';
import orderView from './js/views/order.js';
import { loginView, signupView, logout } from './js/views/auth.js';
import { adminHome, venueView, eventNewView, eventEditView } from './js/views/admin.js';
import dashboardView from './js/views/dashboard.js';
import checkinView from './js/views/checkin.js';

const ADMIN = ['admin'];
const DOOR = ['staff', 'admin'];

const routes = [
  { path: '/', view: eventsView },
  { path: '/events', view: eventsView },
  { path: '/events/:id', view: eventView },
  { path: '/holds/:id', view: checkoutView, auth: true },
  { path: '/orders', view: ordersView, auth: true },
  { path: '/orders/:id', view: orderView, auth: true },
  { path: '/login', view: loginView },
  { path: '/signup', view: signupView },
  { path: '/admin', view: adminHome, roles: ADMIN },
  { path: '/admin/venues/new', view: venueView, roles: ADMIN },
  { path: '/admin/venues/:id', view: venueView, roles: ADMIN },
  { path: '/admin/events/new', view: eventNewView, roles: ADMIN },
  { path: '/admin/events/:id', view: eventEditView, roles: ADMIN },
  { path: '/dashboard', view: dashboardView, roles: ADMIN },
  { path: '/checkin', view: checkinView, roles: DOOR },
];

const nav = document.getElementById('nav');
const account = document.getElementById('account');
const banner = document.getElementById('hold-banner');
const main = document.getElementById('main');

function link(href, text) {
  return h('li', {}, h('a', { href: `#${href}`, dataset: { nav: href } }, text));
}

function renderNav() {
  const u = user();
  const items = [link('/events', 'Events')];
  if (u) items.push(link('/orders', 'My orders'));
  if (u && DOOR.includes(u.role)) items.push(link('/checkin', 'Check-in'));
  if (u && ADMIN.includes(u.role)) items.push(link('/admin', 'Organizer'), link('/dashboard', 'Dashboard'));
  put(nav, items);
  if (u) {
    const out = h('button', { type: 'button', class: 'link', id: 'logout' }, 'Log out');
    out.addEventListener('click', async () => {
      out.disabled = true;
      await logout();
    });
    put(account, h('span', { class: 'who' }, u.name || u.email, u.role !== 'customer' ? h('span', { class: 'badge' }, u.role) : null), out);
  } else {
    const next = currentPath();
    const q = next.startsWith('/login') || next.startsWith('/signup') ? '' : `?next=${encodeURIComponent(next)}`;
    put(account, h('a', { href: `#/login${q}` }, 'Log in'), h('a', { href: `#/signup${q}`, class: 'button primary small' }, 'Sign up'));
  }
  markCurrent();
}

function markCurrent() {
  const path = currentPath().split('?')[0];
  for (const a of nav.querySelectorAll('a[data-nav]')) {
    const target = a.dataset.nav;
    const on = path === target || (target !== '/' && path.startsWith(`${target}/`)) || (target === '/events' && path === '/');
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

/* The held-tickets banner, on every page but that hold's checkout. */
function renderBanner() {
  const hold = currentHold();
  const path = currentPath().split('?')[0];
  if (!hold || path === `/holds/${hold.id}`) {
    banner.hidden = true;
    banner.replaceChildren();
    return;
  }
  const left = secondsLeft(hold);
  if (left <= 0) {
    forgetHold(hold.id);
    banner.hidden = true;
    return;
  }
  banner.hidden = false;
  const time = banner.querySelector('.countdown-time');
  if (time && banner.dataset.hold === hold.id) {
    time.textContent = clock(left);
    return;
  }
  banner.dataset.hold = hold.id;
  put(
    banner,
    h('p', {}, `${hold.quantity} ticket${hold.quantity === 1 ? '' : 's'} held for ${hold.event_title || 'your event'} · `, h('span', { class: 'countdown-time' }, clock(left)), ' left. ', h('a', { href: `#/holds/${hold.id}` }, 'Go to checkout')),
  );
}

document.getElementById('skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
document.addEventListener('bx:route', () => {
  markCurrent();
  renderBanner();
  if (!user()) renderNav(); // keep "log in, then come back here" pointing at this page
});
document.addEventListener('bx:hold', renderBanner);
onSessionChange((u) => {
  renderNav();
  renderBanner();
  // signed out (here, in another tab, or the token was refused): leave pages that need an account
  if (!u) rerender();
});
setInterval(renderBanner, 1000);

pruneCheckouts();
if (!location.hash || location.hash === '#' || location.hash === '#/') history.replaceState(null, '', '#/events');
renderNav();
startRouter(routes, main);
