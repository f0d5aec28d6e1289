// The operator dashboard: KPI tiles, per-day charts, per-flow and A/B
// tables from GET /v1/kpis; live calls from /v1/calls/live (every 2 s);
// recent calls from /v1/calls, each expandable via /v1/calls/{id}. Days and
// times are in the zone /v1/kpis reports ([dashboard].timezone), shown.
"use strict";

(() => {
  const { el, num, pct, ms, money, signed, DASH, missing } = C;
  const DAY = 86400000, HOUR = 3600000;
  const LIVE_EVERY = 2000, KPI_EVERY = 15000;
  const state = { live: null, kpis: null, recentKey: "", openCalls: new Set(), unauthorized: false, zone: null };

  // [from, to) of the selected range: the last N days up to a minute from now.
  function range() {
    const days = Number(document.getElementById("range").value) || 7;
    const to = Date.now() + 60000;
    return { from: to - days * DAY, to, days };
  }

  // --- tiles ---
  function tile(kpi, value, raw, sub) {
    const t = document.querySelector('[data-kpi="' + kpi + '"]');
    t.setAttribute("data-value", missing(raw) ? "" : String(raw));
    t.classList.toggle("empty", missing(raw));
    C.replace(t.querySelector(".value"), ...[].concat(value));
    C.replace(t.querySelector(".sub"), ...[].concat(sub));
  }
  const of = (a, b, what) => num(a) + " of " + num(b) + " " + what;

  function renderTiles(k, days) {
    tile("calls", num(k.calls), k.calls, "in the last " + (days === 1 ? "24 hours" : days + " days"));
    tile("first_response", ms(k.first_response_avg_ms), k.first_response_avg_ms, [
      "p50 ", el("span", { "data-kpi-part": "p50", "data-value": missing(k.first_response_p50_ms) ? "" : k.first_response_p50_ms, text: ms(k.first_response_p50_ms) }),
      " · " + num(k.first_response_samples) + " calls measured",
    ]);
    tile("containment", pct(k.containment_pct), k.containment_pct, of(k.contained, k.calls, "calls"));
    tile("abandon", pct(k.abandon_rate_pct), k.abandon_rate_pct, of(k.abandoned, k.calls, "calls"));
    tile("handoff", pct(k.effective_handoff_pct), k.effective_handoff_pct, of(k.transfers_ok, k.transfers_tried, "transfers"));
    tile("time_to_agent", ms(k.time_to_agent_avg_ms), k.time_to_agent_avg_ms, [
      "p50 ", el("span", { "data-kpi-part": "p50", "data-value": missing(k.time_to_agent_p50_ms) ? "" : k.time_to_agent_p50_ms, text: ms(k.time_to_agent_p50_ms) }),
      " · " + num(k.time_to_agent_samples) + " transfers",
    ]);
    tile("fcr", pct(k.fcr_pct), k.fcr_pct, of(k.fcr_resolved, k.fcr_calls, "calls judged"));
    tile("csat", missing(k.csat_avg) ? DASH : num(k.csat_avg, 2) + " / 5", k.csat_avg, num(k.csat_answers) + " answers");
    tile("nps", missing(k.nps) ? DASH : signed(k.nps, 0), k.nps, num(k.nps_answers) + " answers");
    tile("conversion", pct(k.assisted_conversion_pct), k.assisted_conversion_pct, of(k.converted_calls, k.calls, "calls"));
    const rpc = Object.entries(k.revenue_per_conversation || {});
    tile(
      "revenue_per_conversation",
      rpc.length ? rpc.map(([cur, v]) => el("div", { "data-currency": cur, text: money(v, cur) })) : DASH,
      rpc.length ? rpc.map(([cur, v]) => cur + ":" + v).join(" ") : null,
      Object.keys(k.revenue || {}).length ? "revenue " + Object.entries(k.revenue).map(([cur, v]) => money(v, cur)).join(" + ") : "no orders",
    );
  }

  // --- charts over time ---
  // The calendar days (in the dashboard's zone) that [from, to) touches;
  // hourly steps, so days of 23 or 25 hours come out right.
  function daysOf(r) {
    const keys = [];
    for (let t = r.from; t < r.to + HOUR; t += HOUR) {
      const d = C.day(Math.min(t, r.to - 1));
      if (keys[keys.length - 1] !== d) keys.push(d);
    }
    return keys;
  }
  function renderCharts(report, r) {
    const byDay = new Map(report.groups.map((g) => [g.key, g]));
    const keys = daysOf(r);
    const col = (f) => keys.map((d) => (byDay.has(d) ? f(byDay.get(d)) : null));
    const p = (v) => (missing(v) ? DASH : C.num(v, 0) + " %");
    const currencies = [...new Set(report.groups.flatMap((g) => Object.keys(g.revenue_per_conversation || {})))];
    C.replace(
      "charts",
      Charts.bars("Calls", keys, keys.map((d) => (byDay.has(d) ? byDay.get(d).calls : 0)), { id: "calls" }),
      Charts.line("First response", keys, [
        { name: "avg", values: col((g) => g.first_response_avg_ms) },
        { name: "p50", values: col((g) => g.first_response_p50_ms) },
      ], { id: "first_response", fmt: ms }),
      Charts.line("Containment", keys, [{ name: "containment", values: col((g) => g.containment_pct) }], { id: "containment", min: 0, max: 100, fmt: p }),
      Charts.line("Abandon rate", keys, [{ name: "abandon", values: col((g) => g.abandon_rate_pct) }], { id: "abandon", min: 0, max: 100, fmt: p }),
      Charts.line("Effective handoff", keys, [{ name: "handoff", values: col((g) => g.effective_handoff_pct) }], { id: "handoff", min: 0, max: 100, fmt: p }),
      Charts.line("First-contact resolution", keys, [{ name: "fcr", values: col((g) => g.fcr_pct) }], { id: "fcr", min: 0, max: 100, fmt: p }),
      Charts.line("CSAT", keys, [{ name: "csat", values: col((g) => g.csat_avg) }], { id: "csat", min: 1, max: 5, fmt: (v) => num(v, 1) }),
      Charts.line("NPS", keys, [{ name: "nps", values: col((g) => g.nps) }], { id: "nps", min: -100, max: 100, fmt: (v) => signed(v, 0) }),
      Charts.line("Assisted conversion", keys, [{ name: "conversion", values: col((g) => g.assisted_conversion_pct) }], { id: "conversion", min: 0, max: 100, fmt: p }),
      Charts.line("Revenue per conversation", keys,
        currencies.map((cur) => ({ name: cur, values: col((g) => (g.revenue_per_conversation || {})[cur]) })),
        { id: "revenue_per_conversation", fmt: (v) => num(v, 2) }),
    );
  }

  // --- per-flow table ---
  function rpcText(k) {
    const e = Object.entries(k.revenue_per_conversation || {});
    return e.length ? e.map(([cur, v]) => money(v, cur)).join(", ") : DASH;
  }
  function table(headers, rows) {
    return el("table", { class: "data" }, [
      el("thead", {}, el("tr", {}, headers.map((h) => (h instanceof Node ? h : el("th", { text: h }))))),
      el("tbody", {}, rows),
    ]);
  }
  const td = (text, cls, title) => el("td", { class: cls, title, text });

  function renderFlows(report) {
    if (!report.groups.length) return C.replace("flows", el("p", { class: "muted", text: "No calls in this range." }));
    const rows = report.groups.map((g) => el("tr", { "data-flow": g.key }, [
      td(g.key.split("/").pop(), null, g.key), td(num(g.calls), "num"), td(ms(g.first_response_avg_ms), "num"), td(ms(g.first_response_p50_ms), "num"),
      td(pct(g.containment_pct), "num"), td(pct(g.abandon_rate_pct), "num"), td(pct(g.effective_handoff_pct), "num"), td(pct(g.fcr_pct), "num"),
      td(missing(g.csat_avg) ? DASH : num(g.csat_avg, 2), "num"), td(missing(g.nps) ? DASH : signed(g.nps, 0), "num"),
      td(pct(g.assisted_conversion_pct), "num"), td(rpcText(g), "num"),
    ]));
    C.replace("flows", table(["Flow", "Calls", "FRT avg", "FRT p50", "Containment", "Abandoned", "Handoff", "FCR", "CSAT", "NPS", "Conversion", "Revenue / conv."], rows));
  }

  // --- A/B table: each experiment's variants against its first one ---
  function renderVariants(report) {
    const experiments = new Map();
    let unassigned = 0;
    for (const g of report.groups) {
      const cut = g.key.indexOf("/");
      if (g.key === "none" || cut < 0) { unassigned += g.calls; continue; }
      const exp = g.key.slice(0, cut);
      if (!experiments.has(exp)) experiments.set(exp, []);
      experiments.get(exp).push({ variant: g.key.slice(cut + 1), k: g });
    }
    const out = [];
    for (const [exp, variants] of experiments) {
      const base = variants[0].k;
      const rows = variants.map(({ variant, k }, i) => {
        const t = Stats.twoProportion(base.converted_calls, base.calls, k.converted_calls, k.calls);
        const conf = i === 0 ? "baseline" : missing(t.confidence) ? DASH : num(t.confidence, 1) + " %" + (t.small ? "*" : "");
        const why = i === 0 ? "The baseline this experiment's other variants are compared with."
          : missing(t.p) ? "Not computable: an arm has no calls, or both convert at 0 % or both at 100 %."
          : "z = " + num(t.z, 2) + ", p = " + num(t.p, 3) + " (two-sided, pooled two-proportion z-test)." +
            (t.small ? " * Fewer than 5 conversions or non-conversions in an arm: the normal approximation is rough." : "");
        const confCls = "num" + (i > 0 && t.confidence >= 95 ? " significant" : "");
        return el("tr", { "data-variant": exp + "/" + variant }, [
          td(variant), td(num(k.calls), "num"), td(num(k.converted_calls), "num"), td(pct(k.assisted_conversion_pct), "num"),
          td(i === 0 ? DASH : signed(t.diff, 1, " pts"), "num"), el("td", { class: confCls, title: why, "data-confidence": missing(t.confidence) ? "" : t.confidence.toFixed(2), text: conf }),
          td(rpcText(k), "num"), td(pct(k.containment_pct), "num"), td(missing(k.csat_avg) ? DASH : num(k.csat_avg, 2), "num"),
        ]);
      });
      const confHead = el("th", { title: document.querySelector(".help").getAttribute("title") }, ["Confidence ", el("span", { class: "help", text: "?" })]);
      out.push(el("h3", { text: "Experiment " + exp }),
        table(["Variant", "Calls", "Converted", "Conversion", "Δ vs " + variants[0].variant, confHead, "Revenue / conv.", "Containment", "CSAT"], rows));
    }
    if (!out.length) out.push(el("p", { class: "muted", text: "No A/B assignments in this range." }));
    if (unassigned) out.push(el("p", { class: "muted", text: num(unassigned) + " calls without an A/B assignment." }));
    C.replace("variants", ...out);
  }

  async function loadKpis() {
    const r = range();
    const q = (g) => "/v1/kpis?from=" + Math.floor(r.from) + "&to=" + Math.floor(r.to) + "&group_by=" + g;
    try {
      const [days, flows, variants] = await Promise.all([C.api(q("day")), C.api(q("flow")), C.api(q("variant"))]);
      if (days.timezone && days.timezone !== state.zone) {
        state.zone = days.timezone;
        state.recentKey = ""; // redraw the recent calls' times in the zone
        C.setZone(days.timezone);
      }
      for (const id of ["zone", "days-zone"]) {
        const z = document.getElementById(id);
        z.textContent = C.zoneLabel();
        z.setAttribute("data-zone", C.zoneLabel());
      }
      renderTiles(days.total, r.days);
      renderCharts(days, r);
      renderFlows(flows);
      renderVariants(variants);
      state.unauthorized = false;
      C.replace("updated", "updated " + C.time(Date.now()).slice(11));
    } catch (e) {
      if (e.status === 401) state.unauthorized = true;
      else if (!(e instanceof C.ApiError)) throw e;
    }
  }

  // --- live calls ---
  function renderLive(calls) {
    const count = document.getElementById("live-count");
    count.textContent = String(calls.length);
    count.setAttribute("data-live-count", String(calls.length));
    if (!calls.length) return C.replace("live", el("p", { class: "muted", text: "No calls right now." }));
    const now = Date.now();
    // `id`/`started_at` (RFC 3339); `call_id`/`started_unix_ms` from older gateways.
    const rows = calls.map((c) => el("tr", { "data-call-id": c.id || c.call_id }, [
      el("td", {}, el("a", { href: "/agent/calls/" + encodeURIComponent(c.id || c.call_id), text: c.id || c.call_id })),
      td(c.caller), td(c.called), td((c.flow || "").split("/").pop(), null, c.flow), td(c.state), td(c.node || DASH),
      td(C.duration(now - C.when(missing(c.started_at) ? c.started_unix_ms : c.started_at)), "num"), td(ms(c.first_response_ms), "num"),
    ]));
    C.replace("live", table(["Call", "Caller", "Called", "Flow", "State", "Node", "Duration", "First response"], rows));
  }
  async function pollLive() {
    clearTimeout(state.live);
    if (C.token() && !state.unauthorized) {
      try {
        renderLive((await C.api("/v1/calls/live")).calls || []);
      } catch (e) {
        if (e.status === 401) state.unauthorized = true;
        else if (!(e instanceof C.ApiError)) throw e;
      }
    }
    state.live = setTimeout(pollLive, LIVE_EVERY);
  }

  // --- recent calls ---
  function outcomeBadge(c) {
    const o = c.outcome || (c.ended_at ? "ended" : "in progress");
    return el("span", { class: "badge outcome-" + o.replace(/[^a-z_]/g, "_"), text: o.replace("_", " ") });
  }
  async function loadDetail(box, id) {
    const body = box.querySelector(".detail");
    try {
      const d = await C.api("/v1/calls/" + encodeURIComponent(id));
      const call = C.callOf(d);
      const extra = [];
      const list = (title, items, line) => items && items.length && extra.push(el("h4", { text: title }), el("ul", {}, items.map((x) => el("li", { text: line(x) }))));
      list("Transfers", d.transfers, (t) => t.mode + " to " + t.target + ": " + (t.ok ? "ok" : "failed") + (t.result_code ? " (" + t.result_code + ")" : ""));
      list("Consents", d.consents, (x) => x.purpose + ": " + (x.granted ? "granted" : "refused"));
      list("Survey answers", d.survey_answers, (x) => x.kind.toUpperCase() + " " + x.score);
      list("Business events", d.business_events, (x) => x.kind + (missing(x.value) ? "" : " " + money(x.value, x.currency)));
      list("A/B", d.ab_assignments, (x) => x.experiment + ": " + x.variant);
      C.replace(body, el("p", {}, [
        "SIP Call-ID " + call.sip_call_id + " · hang-up by " + (call.hangup_side || DASH) + (call.hangup_cause ? " (" + call.hangup_cause + ")" : "") + " · ",
        el("a", { href: "/agent/calls/" + encodeURIComponent(id), text: "agent view" }),
      ]), C.stepsTable(d.steps, call.started_at), ...extra);
    } catch (e) {
      C.replace(body, el("p", { class: "muted", text: "Could not load this call (" + (e.status || e.message) + ")." }));
      if (!(e instanceof C.ApiError)) throw e;
    }
  }
  function renderRecent(calls) {
    if (!calls.length) return C.replace("recent", el("p", { class: "muted", text: "No calls yet." }));
    const items = calls.map((c) => {
      const box = el("details", { class: "call", "data-call-id": c.id }, [
        el("summary", {}, [
          el("span", { class: "when", text: C.time(c.started_at) }),
          el("span", { class: "who", text: c.caller + " → " + c.called }),
          el("span", { class: "flow", title: c.flow, text: (c.flow || "").split("/").pop() }),
          outcomeBadge(c),
          el("span", { class: "num", title: "duration", text: c.ended_at ? C.duration(C.when(c.ended_at) - C.when(c.started_at)) : DASH }),
          el("span", { class: "num", title: "first response", text: missing(c.first_prompt_at) ? DASH : ms(C.when(c.first_prompt_at) - C.when(c.started_at)) }),
        ]),
        el("div", { class: "detail" }, el("p", { class: "muted", text: "Loading…" })),
      ]);
      box.addEventListener("toggle", () => {
        if (box.open) {
          state.openCalls.add(c.id);
          loadDetail(box, c.id);
        } else state.openCalls.delete(c.id);
      });
      if (state.openCalls.has(c.id)) box.open = true;
      return box;
    });
    const head = el("div", { class: "call-head", role: "row" }, [
      "Started (" + C.zoneLabel() + ")", "Caller → called", "Flow", "Outcome", "Duration", "First response",
    ].map((h) => el("span", { role: "columnheader", text: h })));
    C.replace("recent", head, ...items);
  }
  async function loadRecent() {
    try {
      const page = await C.api("/v1/calls?limit=20");
      const calls = page.calls || [];
      const key = JSON.stringify(calls.map((c) => [c.id, c.outcome, c.ended_at, c.first_prompt_at]));
      if (key !== state.recentKey) {
        state.recentKey = key;
        renderRecent(calls);
      }
    } catch (e) {
      if (e.status === 401) state.unauthorized = true;
      else if (!(e instanceof C.ApiError)) throw e;
    }
  }

  let kpiTimer = null;
  async function refresh() {
    clearTimeout(kpiTimer);
    if (C.token()) {
      await loadKpis();
      if (!state.unauthorized) await loadRecent();
    } else {
      C.showBanner("Enter an API token (read or admin) to see the dashboard.");
    }
    kpiTimer = setTimeout(refresh, KPI_EVERY);
  }

  C.takeTokenFromFragment();
  C.setupLogin(() => {
    state.unauthorized = false;
    state.recentKey = "";
    refresh();
    pollLive();
  });
  document.getElementById("range").addEventListener("change", refresh);
  document.getElementById("refresh").addEventListener("click", () => {
    state.unauthorized = false;
    refresh();
    pollLive();
  });
  refresh();
  pollLive();
})();
