// SPDX-License-Identifier: Apache-2.0
// Form building blocks: a labelled field with its hint and its own error line, the form-level
// error, and submit handling that disables the button while the request is in flight (and for
// Retry-After seconds after a 429). An API error naming a `field` is shown next to the input of
// that name (names follow the API: "email", "tiers[1].currency"), which also gets focus.
import { h, put } from './dom.js';
import { errorText } from './api.js';

let seq = 0;

/**
 * field({label, name, type, value, required, hint, options: [[value, text]], textarea, attrs})
 * → <div class="field"> with label, control, hint and an error line tied by aria-describedby.
 */
export function field(o) {
  const id = `f${++seq}-${o.name.replace(/[^A-Za-z0-9_-]/g, '-')}`;
  const errId = `${id}-error`;
  const hintId = o.hint ? `${id}-hint` : null;
  const common = {
    id,
    name: o.name,
    required: !!o.required,
    'aria-describedby': [hintId, errId].filter(Boolean).join(' '),
    ...(o.attrs || {}),
  };
  let control;
  if (o.options) {
    control = h(
      'select',
      common,
      o.options.map(([v, t]) => h('option', { value: v, selected: String(v) === String(o.value ?? '') }, t)),
    );
  } else if (o.textarea) {
    control = h('textarea', { ...common, rows: o.rows || 4 });
    control.value = o.value ?? '';
  } else {
    control = h('input', { ...common, type: o.type || 'text' });
    if (o.value !== undefined && o.value !== null) control.value = o.value;
  }
  return h(
    'div',
    { class: ['field', o.class] },
    h('label', { for: id }, o.label, o.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    hintId ? h('p', { class: 'hint', id: hintId }, o.hint) : null,
    control,
    h('p', { class: 'field-error', id: errId }),
  );
}

/** The form-level error line (role=alert), created once at the top of the form. */
export function formError(form) {
  let el = form.querySelector(':scope > .form-error');
  if (!el) {
    el = h('p', { class: 'form-error', role: 'alert' });
    form.prepend(el);
  }
  return el;
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  const fe = form.querySelector(':scope > .form-error');
  if (fe) fe.textContent = '';
}

/** Puts msg next to the control named name; false when the form has no such control. */
export function fieldError(form, name, msg) {
  const control = form.elements.namedItem(name);
  if (!control || !(control instanceof HTMLElement) || !control.id) return false;
  const err = document.getElementById(`${control.id}-error`);
  if (!err) return false;
  err.textContent = msg;
  control.setAttribute('aria-invalid', 'true');
  return control;
}

/** Shows an ApiError next to its field when the form has it, else at the top of the form. */
export function showError(form, err, aliases = {}) {
  if (err && err.name === 'AbortError') return;
  clearErrors(form);
  const name = err && err.field ? aliases[err.field] || err.field : null;
  const control = name ? fieldError(form, name, err.message || errorText(err)) : false;
  if (control) {
    control.focus();
    return;
  }
  const fe = formError(form);
  put(fe, errorText(err));
  fe.focus?.();
}

/** Browser-side checks (required, type, min/max) shown in the same places; true when valid. */
export function checkForm(form) {
  clearErrors(form);
  let first = null;
  for (const el of form.elements) {
    if (!el.willValidate || el.checkValidity()) continue;
    fieldError(form, el.name, el.validationMessage);
    first = first || el;
  }
  if (first) first.focus();
  return !first;
}

/**
 * Runs fn with button disabled (no double submit) and aria-busy; after a 429 the button stays
 * disabled for Retry-After seconds. Errors from fn are rethrown for the caller to show.
 */
export async function busy(button, fn, busyText) {
  if (button.disabled) {
    // already running (reached by a script, not a click): the caller ignores AbortError
    throw Object.assign(new Error('already in progress'), { name: 'AbortError' });
  }
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  if (busyText) button.textContent = busyText;
  let wait = 0;
  try {
    return await fn();
  } catch (err) {
    if (err && err.code === 'rate_limited') wait = err.retryAfter || 1;
    throw err;
  } finally {
    button.removeAttribute('aria-busy');
    button.textContent = label;
    if (wait > 0) {
      setTimeout(() => {
        button.disabled = false;
      }, wait * 1000);
    } else {
      button.disabled = false;
    }
  }
}

/** Form values as an object of trimmed strings (empty inputs left out). */
export function values(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    const v = typeof el.value === 'string' ? el.value.trim() : el.value;
    if (v !== '') out[el.name] = v;
  }
  return out;
}
