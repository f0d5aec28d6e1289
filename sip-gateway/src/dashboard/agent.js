// The agent's screen-pop for one call (/agent/calls/{id}): the transfer
// context of GET /v1/calls/{id}/context (caller, intents, transcript,
// CRM variables, consents) and the recorded steps of GET /v1/calls/{id}.
// Refreshes every 3 s until the call has ended.
"use strict";

(() => {
  const { el, DASH, missing } = C;
  const EVERY = 3000;
  const id = decodeURIComponent(location.pathname.replace(/^\/agent\/calls\//, "").replace(/\/$/, ""));
  let timer = null;

  function facts(pairs) {
    const out = [];
    for (const [k, v, attr] of pairs) {
      out.push(el("dt", { text: k }), el("dd", { "data-field": attr, text: missing(v) || v === "" ? DASH : v }));
    }
    return out;
  }

  function renderSummary(ctx, call) {
    const intents = (ctx && ctx.intents) || [];
    const last = intents[intents.length - 1];
    const consents = (ctx && ctx.consents) || (call && call.consents) || [];
    const surveys = (ctx && ctx.surveys) || [];
    const variants = Object.entries((ctx && ctx.variants) || {});
    const c = call ? C.callOf(call) : {};
    C.replace("summary", ...facts([
      ["Caller", (ctx && ctx.caller) || c.caller, "caller"],
      ["Called", (ctx && ctx.called) || c.called, "called"],
      ["Wants", last ? last.intent + " (said “" + last.input + "” at " + last.node + ")" : null, "intent"],
      ["Intents", intents.length ? intents.map((i) => i.intent).join(" → ") : null, "intents"],
      ["Keys pressed", ctx && ctx.digits, "digits"],
      ["Flow", (ctx && ctx.flow) || c.flow, "flow"],
      ["Path", ctx && ctx.path && ctx.path.length ? ctx.path.join(" → ") : null, "path"],
      ["Consent", consents.length ? consents.map((x) => (x.topic || x.purpose) + ": " + (x.granted ? "yes" : "no")).join(", ") : null, "consent"],
      ["Survey", surveys.length ? surveys.map((s) => s.scale.toUpperCase() + " " + s.score).join(", ") : null, "survey"],
      ["A/B", variants.length ? variants.map(([k, v]) => k + ": " + v).join(", ") : null, "variants"],
      ["Started", c.started_at ? C.time(c.started_at) : null, "started"],
      ["SIP Call-ID", (ctx && ctx.call_id) || c.sip_call_id, "sip_call_id"],
    ]));
  }

  function renderVariables(ctx) {
    const vars = Object.entries((ctx && ctx.variables) || {});
    if (!vars.length) return C.replace("variables", el("p", { class: "muted", text: ctx ? "The flow collected no data." : "No transfer context." }));
    C.replace("variables", el("dl", { class: "facts" }, facts(vars.map(([k, v]) => [k, v, "var-" + k]))));
  }

  // The transcript of the context (what the bot said and the caller
  // answered); without a context, the prompt/speech/digit steps instead.
  function renderTranscript(ctx, detail) {
    let lines = [];
    if (ctx && ctx.transcript && ctx.transcript.length) {
      lines = ctx.transcript.map((l) => [l.speaker === "bot" ? "IVR" : "Caller", l.text]);
    } else if (detail && detail.steps) {
      lines = detail.steps.filter((s) => ["prompt", "transcript", "digits"].includes(s.kind)).map(C.stepLine);
    }
    if (!lines.length) return C.replace("transcript", el("p", { class: "muted", text: "Nothing said yet." }));
    C.replace("transcript", el("ol", { class: "transcript" }, lines.map(([who, text]) =>
      el("li", { class: who === "IVR" ? "bot" : "caller" }, [el("b", { text: who }), el("span", { text: text })]))));
  }

  async function load() {
    clearTimeout(timer);
    if (!C.token()) {
      C.showBanner("Enter the admin API token to see this call.");
      return;
    }
    const path = "/v1/calls/" + encodeURIComponent(id);
    const [ctx, detail] = await Promise.all([
      C.api(path + "/context", [404]).catch((e) => (e.status === 404 ? null : Promise.reject(e))),
      C.api(path, [404]).catch((e) => (e.status === 404 ? null : Promise.reject(e))),
    ]).catch((e) => {
      if (!(e instanceof C.ApiError)) throw e;
      return [undefined, undefined];
    });
    if (ctx === undefined) return; // reported in the banner; try again on Refresh/login
    if (!ctx && !detail) {
      C.recordError("no call " + id + " (neither a transfer context nor a call record)");
      return;
    }
    if (!ctx) C.showBanner("No transfer context for this call (it was not transferred, or the gateway has forgotten it); showing its record.");
    const call = detail ? C.callOf(detail) : null;
    const ended = call && !missing(call.ended_at);
    const badge = document.getElementById("call-state");
    badge.textContent = call ? (ended ? call.outcome || "ended" : "in progress") : "transferring";
    badge.setAttribute("data-state", badge.textContent);
    renderSummary(ctx, detail);
    renderVariables(ctx);
    renderTranscript(ctx, detail);
    C.replace("steps", detail ? C.stepsTable(detail.steps, call.started_at) : el("p", { class: "muted", text: "No call record yet." }));
    if (!ended) timer = setTimeout(load, EVERY);
  }

  document.getElementById("call-id").textContent = id;
  document.title = "Call " + id + " — Centralita";
  C.takeTokenFromFragment();
  C.setupLogin(load);
  load();
})();
