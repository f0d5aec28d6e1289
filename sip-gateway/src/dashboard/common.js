// Shared by the dashboard and the agent page: the token, API calls, the
// error banner, DOM building and number formatting. No framework, no
// innerHTML: everything from the API is inserted as text.
"use strict";

const C = (() => {
  const TOKEN_KEY = "centralita.token";

  // --- errors: a visible banner plus <pre id="errors"> (read by tests) ---
  // A repeated message (a poll failing every 2 s) is counted, not re-logged.
  const errorLog = [];
  function recordError(msg) {
    const last = errorLog[errorLog.length - 1];
    if (last && last.msg === msg) last.times += 1;
    else errorLog.push({ at: new Date().toISOString().slice(11, 19), msg, times: 1 });
    const pre = document.getElementById("errors");
    if (pre) pre.textContent = errorLog.slice(-20).map((e) => e.at + " " + e.msg + (e.times > 1 ? " (×" + e.times + ")" : "")).join("\n");
    showBanner(msg);
  }
  function showBanner(msg) {
    const b = document.getElementById("banner");
    if (!b) return;
    b.textContent = msg;
    b.hidden = false;
  }
  function clearBanner() {
    const b = document.getElementById("banner");
    if (b) b.hidden = true;
  }
  window.addEventListener("error", (e) => recordError("script error: " + (e.message || e) + (e.lineno ? " (line " + e.lineno + ")" : "")));
  window.addEventListener("unhandledrejection", (e) => recordError("script error: " + (e.reason && e.reason.message ? e.reason.message : e.reason)));

  // --- token: #token=... in the URL, else sessionStorage, else the login field ---
  function takeTokenFromFragment() {
    const params = new URLSearchParams(location.hash.slice(1));
    const t = params.get("token");
    if (t) {
      sessionStorage.setItem(TOKEN_KEY, t);
      params.delete("token");
      const rest = params.toString();
      // Keep the token out of the address bar, history and screenshots.
      history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
    }
  }
  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }
  function setToken(t) {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  }

  // Wires <form id="login"> (an input named token): shown when there is no
  // token or the API said 401; `onLogin` runs after a new token is saved.
  function setupLogin(onLogin) {
    const form = document.getElementById("login");
    if (!form) return;
    form.hidden = !!token();
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const input = form.querySelector("input[name=token]");
      setToken(input.value.trim());
      input.value = "";
      form.hidden = true;
      clearBanner();
      onLogin();
    });
    const logout = document.getElementById("logout");
    if (logout) {
      logout.addEventListener("click", () => {
        setToken("");
        form.hidden = false;
      });
    }
  }

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // GET a JSON API path with the bearer token. Non-2xx answers and network
  // failures throw an ApiError and are recorded (banner + #errors), except
  // the statuses listed in `quiet` (e.g. an expected 404).
  async function api(path, quiet) {
    let res;
    try {
      res = await fetch(path, { headers: { Authorization: "Bearer " + token(), Accept: "application/json" }, cache: "no-store" });
    } catch (e) {
      recordError("network error: GET " + path + " failed (" + e.message + ") — is the gateway running?");
      throw new ApiError(0, e.message);
    }
    if (!res.ok) {
      let detail = "";
      try {
        detail = (await res.json()).error || "";
      } catch (_) {
        /* not JSON */
      }
      const err = new ApiError(res.status, detail || res.statusText);
      if (!(quiet || []).includes(res.status)) {
        if (res.status === 401) {
          recordError("401 Unauthorized: the API refused the token — enter a valid one (GET " + path + ")");
          const form = document.getElementById("login");
          if (form) form.hidden = false;
        } else {
          recordError("HTTP " + res.status + " on GET " + path + (detail ? ": " + detail : ""));
        }
      }
      throw err;
    }
    return res.json();
  }

  // --- DOM ---
  const SVG_NS = "http://www.w3.org/2000/svg";
  function build(ns, tag, attrs, children) {
    const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of [].concat(children || [])) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  const el = (tag, attrs, children) => build(null, tag, attrs, children);
  const svg = (tag, attrs, children) => build(SVG_NS, tag, attrs, children);
  function replace(id, ...nodes) {
    const target = typeof id === "string" ? document.getElementById(id) : id;
    if (target) target.replaceChildren(...nodes);
    return target;
  }

  // --- formatting: null/undefined/NaN → "—" ---
  const DASH = "—";
  const missing = (v) => v === null || v === undefined || (typeof v === "number" && !isFinite(v));
  // `digits` decimals; `upTo` more only when they are not zeros.
  function num(v, digits, upTo) {
    if (missing(v)) return DASH;
    return Number(v).toLocaleString("en-US", { minimumFractionDigits: digits || 0, maximumFractionDigits: Math.max(digits || 0, upTo || 0) });
  }
  function pct(v) {
    return missing(v) ? DASH : num(v, 0, 1) + " %";
  }
  function ms(v) {
    if (missing(v)) return DASH;
    return v >= 10000 ? num(v / 1000, 1) + " s" : num(v, 0) + " ms";
  }
  function signed(v, digits, unit) {
    if (missing(v)) return DASH;
    return (v > 0 ? "+" : v < 0 ? "−" : "±") + num(Math.abs(v), digits) + (unit || "");
  }
  function money(amount, currency) {
    if (missing(amount)) return DASH;
    if (currency && currency !== "XXX") {
      try {
        return amount.toLocaleString("en-US", { style: "currency", currency: currency });
      } catch (_) {
        /* not an ISO 4217 code: fall through */
      }
    }
    return num(amount, 2) + (currency && currency !== "XXX" ? " " + currency : "");
  }
  function duration(msv) {
    if (missing(msv)) return DASH;
    const s = Math.max(0, Math.round(msv / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(r).padStart(2, "0");
  }
  // A time from the API (RFC 3339 string, or Unix ms from older gateways)
  // as Unix ms; null when absent.
  function when(v) {
    if (missing(v) || v === "") return null;
    const t = typeof v === "number" ? v : Date.parse(v);
    return isFinite(t) ? t : null;
  }
  // The zone times are shown in: the dashboard's ([dashboard].timezone,
  // told by /v1/kpis), else the browser's.
  let zone = null;
  function setZone(name) {
    try {
      new Intl.DateTimeFormat("en-GB", { timeZone: name });
      zone = name;
    } catch (_) {
      zone = null; // an unknown zone: the browser's
    }
  }
  function zoneLabel() {
    return zone || Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  }
  // "YYYY-MM-DD HH:MM:SS" in the zone.
  function time(v) {
    const t = when(v);
    if (t === null) return DASH;
    const parts = {};
    const fmt = new Intl.DateTimeFormat("en-GB", {
      timeZone: zoneLabel() === "local time" ? undefined : zoneLabel(), hourCycle: "h23",
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
    for (const p of fmt.formatToParts(new Date(t))) parts[p.type] = p.value;
    return parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute + ":" + parts.second;
  }
  // "YYYY-MM-DD" of a time in the zone.
  function day(v) {
    return time(v).slice(0, 10);
  }
  // The call detail of /v1/calls/{id}: `{call, steps, ...}`, or the call's
  // fields flattened next to the lists (the store's CallDetail).
  const callOf = (detail) => (detail && detail.call ? detail.call : detail);

  // A step of a call as one line of transcript: [who, text].
  function stepLine(s) {
    const conf = missing(s.confidence) ? "" : " (" + num(s.confidence * 100, 0) + " % sure)";
    switch (s.kind) {
      case "prompt": return ["IVR", s.detail];
      case "transcript": return ["Caller", s.detail + conf];
      case "digits": return ["Caller", "pressed " + s.detail];
      case "intent": return ["Intent", s.detail + conf];
      case "node": return ["Flow", "→ " + s.node + (s.detail ? " · " + s.detail : "")];
      case "webhook": return ["Webhook", s.detail];
      case "rejected": return ["Not taken", s.detail + conf];
      case "confirm": return ["IVR", "asked to confirm " + s.detail + conf];
      default: return [s.kind, s.detail];
    }
  }

  // Steps as a table: time since the call started, who, what, node.
  function stepsTable(steps, startedAt) {
    if (!steps || !steps.length) return el("p", { class: "muted", text: "No steps recorded." });
    const rows = steps.map((s) => {
      const [who, what] = stepLine(s);
      return el("tr", { class: "step step-" + s.kind }, [
        el("td", { class: "num", text: when(startedAt) === null ? DASH : "+" + num((when(s.at) - when(startedAt)) / 1000, 1) + " s" }),
        el("td", { text: who }),
        el("td", { text: what }),
        el("td", { class: "muted", text: s.node }),
      ]);
    });
    return el("table", { class: "steps" }, [
      el("thead", {}, el("tr", {}, ["t", "who", "what", "node"].map((h) => el("th", { text: h })))),
      el("tbody", {}, rows),
    ]);
  }

  return {
    api, ApiError, recordError, showBanner, clearBanner, takeTokenFromFragment, token, setupLogin,
    el, svg, replace, DASH, missing, num, pct, ms, signed, money, duration, time, day, when, setZone, zoneLabel, callOf, stepLine, stepsTable,
  };
})();
