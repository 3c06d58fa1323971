// SPDX-License-Identifier: Apache-2.0
// #/login and #/signup (POST /api/sessions, POST /api/users then a session), and logging out
// (DELETE /api/sessions/current). After either form the user goes back to ?next= (the page that
// asked them to log in), else to the events.
import { h, put } from '../dom.js';
import { api } from '../api.js';
import { setSession, clearSession, session } from '../session.js';
import { navigate } from '../router.js';
import { field, busy, showError, checkForm, formError, clearErrors } from '../forms.js';

function nextPath(ctx) {
  const next = ctx.query.get('next');
  return next && next.startsWith('/') && !next.startsWith('/login') && !next.startsWith('/signup') ? next : '/events';
}

async function startSession(email, password) {
  const s = await api('/api/sessions', { method: 'POST', body: { email, password }, auth: false });
  setSession(s);
  return s;
}

export async function loginView(ctx) {
  const next = nextPath(ctx);
  const form = h(
    'form',
    { class: 'narrow', novalidate: true },
    field({ label: 'Email', name: 'email', type: 'email', required: true, attrs: { autocomplete: 'username' } }),
    field({ label: 'Password', name: 'password', type: 'password', required: true, attrs: { autocomplete: 'current-password' } }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Log in')),
  );
  const s = session();
  put(
    ctx.root,
    h('h1', {}, 'Log in'),
    s ? h('p', { class: 'notice' }, `You are signed in as ${s.user.email}. Logging in again switches account.`) : null,
    form,
    h('p', {}, 'New here? ', h('a', { href: `#/signup?next=${encodeURIComponent(next)}` }, 'Create an account')),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!checkForm(form)) return;
    const btn = form.querySelector('button[type=submit]');
    try {
      await busy(btn, () => startSession(form.elements.email.value.trim(), form.elements.password.value), 'Logging in…');
      navigate(next, { replace: true });
    } catch (err) {
      if (err.code === 'unauthorized') {
        clearErrors(form);
        put(formError(form), err.message || 'Wrong email or password.');
        form.elements.password.select();
        form.elements.password.focus();
      } else {
        showError(form, err);
      }
    }
  });
}

export async function signupView(ctx) {
  const next = nextPath(ctx);
  const form = h(
    'form',
    { class: 'narrow', novalidate: true },
    field({ label: 'Name', name: 'name', required: true, hint: 'As it should appear on your tickets', attrs: { autocomplete: 'name', maxlength: 200 } }),
    field({ label: 'Email', name: 'email', type: 'email', required: true, attrs: { autocomplete: 'email' } }),
    field({ label: 'Password', name: 'password', type: 'password', required: true, hint: '10 to 256 characters', attrs: { autocomplete: 'new-password', minlength: 10, maxlength: 256 } }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create account')),
  );
  put(
    ctx.root,
    h('h1', {}, 'Create an account'),
    form,
    h('p', {}, 'Already have one? ', h('a', { href: `#/login?next=${encodeURIComponent(next)}` }, 'Log in')),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!checkForm(form)) return;
    const btn = form.querySelector('button[type=submit]');
    const email = form.elements.email.value.trim();
    const password = form.elements.password.value;
    try {
      await busy(btn, async () => {
        await api('/api/users', { method: 'POST', body: { email, password, name: form.elements.name.value.trim() }, auth: false });
        await startSession(email, password);
      }, 'Creating your account…');
      navigate(next, { replace: true });
    } catch (err) {
      if (err.code === 'email_taken') {
        showError(form, { ...err, field: 'email', message: 'An account with this email already exists. Log in instead?' });
      } else {
        showError(form, err);
      }
    }
  });
}

/** Logs out on the server (best effort: the token is forgotten here whatever happens). */
export async function logout() {
  try {
    await api('/api/sessions/current', { method: 'DELETE' });
  } catch {
    // forgotten here anyway; the token expires on its own
  }
  clearSession();
  navigate('/events');
}
