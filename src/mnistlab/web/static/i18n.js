// The page's language: the remembered ES/EN switch (localStorage), else the browser's languages (the
// server reads Accept-Language), else `serve --lang`. Texts come from GET /api/strings as JSON.

import { getStrings } from "./api.js";

const STORAGE_KEY = "mnistlab.lang";
let strings = {};
let lang = "en";
const listeners = [];
const formats = new Map();  // "lang style digits" -> Intl.NumberFormat, built once

export const currentLang = () => lang;

// The text for `key` with {placeholders} filled in; the key itself if the catalogue lacks it.
export function t(key, values = {}) {
  const text = strings[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

// `text` into `element`, with `code` spans (the catalogue marks commands with backticks) as <code>.
export function fillText(element, text) {
  element.replaceChildren(...text.split("`").map((part, i) => {
    if (i % 2 === 0) return part;
    const code = document.createElement("code");
    code.textContent = part;
    return code;
  }));
}

function format(style, digits) {
  const key = `${lang} ${style} ${digits}`;
  if (!formats.has(key)) {
    formats.set(key, new Intl.NumberFormat(lang, { style, minimumFractionDigits: digits, maximumFractionDigits: digits }));
  }
  return formats.get(key);
}

export const percent = (value, digits = 1) => format("percent", digits).format(value);
export const number = (value, digits = 0) => format("decimal", digits).format(value);

// The translated text of an API error (by its code), for the status lines.
export function errorText(err) {
  const key = `error_${err.code}`;
  if (err.code === "unreachable") return t("unreachable");
  return key in strings ? t(key) : t("error_unknown");
}

// A status line in `element`: `say(key, values, {error, detail})` shows the text of `key` (or of an API
// error: `say.error(err)`), the server's own words on hover, and says it again when the language changes.
export function statusLine(element) {
  let last = null;
  function say(key, values = {}, { error = false, detail = "" } = {}) {
    last = { key, values, error, detail };
    fillText(element, typeof key === "function" ? key() : t(key, values));
    element.classList.toggle("error", error);
    if (detail) element.title = detail;
    else element.removeAttribute("title");
  }
  say.error = (err) => say(() => errorText(err), {}, { error: true, detail: err.message });
  say.again = () => { if (last) say(last.key, last.values, last); };
  listeners.push(say.again);
  return say;
}

function storedLang() {
  try { return localStorage.getItem(STORAGE_KEY); } catch { return null; }
}

// Fills every element marked data-i18n (text), data-i18n-aria-label, data-i18n-placeholder.
function apply(root = document) {
  root.querySelectorAll("[data-i18n]").forEach((el) => fillText(el, t(el.dataset.i18n)));
  root.querySelectorAll("[data-i18n-aria-label]").forEach((el) => el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel)));
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => el.setAttribute("placeholder", t(el.dataset.i18nPlaceholder)));
  document.title = t("title");
  document.documentElement.lang = lang;
  document.querySelectorAll(".lang-switch [data-lang]").forEach((button) => {
    button.setAttribute("aria-pressed", String(button.dataset.lang === lang));
  });
}

export async function loadLanguage(wanted = storedLang()) {
  const answer = await getStrings(wanted);
  strings = answer.strings;
  lang = answer.lang;
  apply();
  listeners.forEach((listener) => listener(lang));
}

export function onLanguageChange(listener) { listeners.push(listener); }

export function setupSwitch() {
  document.querySelectorAll(".lang-switch [data-lang]").forEach((button) => {
    button.addEventListener("click", async () => {
      try { localStorage.setItem(STORAGE_KEY, button.dataset.lang); } catch { /* private mode: not remembered */ }
      await loadLanguage(button.dataset.lang);
    });
  });
}
