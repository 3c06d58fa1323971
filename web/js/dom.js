// SPDX-License-Identifier: Apache-2.0
// DOM and formatting helpers shared by the views. Everything is built with createElement and
// textContent (never innerHTML with data), so API strings can never become markup; there are no
// inline styles either (the gateway's CSP is `style-src 'self'`), only classes from app.css.

/** h('button', {class: 'primary', onclick: fn, type: 'button'}, 'Text', child, [more]) */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') {
        el.addEventListener(k.slice(2), v);
      } else if (k === 'class') {
        el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
      } else if (k === 'text') {
        el.textContent = v;
      } else if (k === 'dataset') {
        Object.assign(el.dataset, v);
      } else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') {
        el[k] = v;
      } else {
        el.setAttribute(k, v === true ? '' : String(v));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces every child of el with children. */
export function put(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Money from minor units: 4500 EUR → "€45.00". */
export function money(cents, currency) {
  const digits = minorDigits(currency);
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(
      cents / 10 ** digits,
    );
  } catch {
    return `${(cents / 10 ** digits).toFixed(digits)} ${currency}`;
  }
}

/** Minor-unit digits of a currency (JPY 0, EUR 2, KWD 3). */
export function minorDigits(currency) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions()
      .maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** A revenue object {EUR: 9000, GBP: 100} as "€90.00 · £1.00" ("—" when empty). */
export function revenueText(revenue) {
  const parts = Object.entries(revenue || {}).map(([cur, cents]) => money(cents, cur));
  return parts.length ? parts.join(' · ') : '—';
}

/** A time in the venue's time zone when known: "Sat, 28 Nov 2026, 19:00 GMT". */
export function when(iso, timeZone) {
  if (!iso) return '';
  const d = new Date(iso);
  const opts = {
    weekday: 'short', year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', timeZoneName: 'short',
  };
  try {
    return d.toLocaleString(undefined, timeZone ? { ...opts, timeZone } : opts);
  } catch {
    return d.toLocaleString(undefined, opts);
  }
}

/** "12:05" from a number of seconds (never negative). */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}

/** A random id for Idempotency-Key (crypto.randomUUID is missing outside secure contexts). */
export function randomId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** Short, readable form of a long id for display. */
export function shortId(id) {
  return String(id).slice(-8);
}

/** localStorage that never throws (private mode, quota) and stores JSON. */
export const store = {
  get(key) {
    try {
      const v = localStorage.getItem(key);
      return v === null ? null : JSON.parse(v);
    } catch {
      return null;
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch {
      /* storage full or disabled: the page still works, it only forgets on refresh */
    }
  },
  remove(key) {
    try {
      localStorage.removeItem(key);
    } catch {
      /* as above */
    }
  },
};

/** "<input type=datetime-local>" value (local wall time) → RFC 3339 UTC without fraction. */
export function localToRfc3339(value) {
  if (!value) return null;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return null;
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** RFC 3339 → the "YYYY-MM-DDTHH:MM" a datetime-local input shows, in the browser's zone. */
export function rfc3339ToLocal(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(
    d.getMinutes(),
  )}`;
}
