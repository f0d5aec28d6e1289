// The agent's screen-pop for one call (/agent/calls/{id}): the transfer
// context of GET /v1/calls/{id}/context (caller, intents, transcript,
// CRM variables, consents) and the recorded steps of GET /v1/calls/{id}.
// Refreshes every 3 s until the call has ended. What the context leaves out
// (a transfer's `context:` list may omit digits and path) is filled in from
// the transcript and the recorded steps; an unknown id says so in every card.
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

  const KEYS = /^[0-9*#A-Da-d]+$/;
  // "pressed 0" for keys, "said “agent”" for words.
  function how(input) {
    return KEYS.test(input || "") ? "pressed " + input : "said “" + input + "”";
  }
  // Keys the caller pressed: the context's, else its transcript's "DTMF x"
  // lines, else the recorded intent steps' "(x)" inputs.
  function keysPressed(ctx, call) {
    if (ctx && ctx.digits) return ctx.digits;
    const fromTranscript = ((ctx && ctx.transcript) || [])
      .filter((l) => l.speaker === "caller" && /^DTMF /.test(l.text)).map((l) => l.text.slice(5)).join("");
    if (fromTranscript) return fromTranscript;
    const fromIntents = ((ctx && ctx.intents) || []).map((i) => i.input).filter((i) => KEYS.test(i)).join("");
    if (fromIntents) return fromIntents;
    const steps = (call && call.steps) || [];
    return steps.filter((st) => st.kind === "digits").map((st) => st.detail).join("") ||
      steps.filter((st) => st.kind === "intent").map((st) => (/\(([0-9*#]+)\)$/.exec(st.detail) || [])[1]).filter(Boolean).join("") || null;
  }
  // Nodes entered: the context's path, else the recorded node steps.
  function pathOf(ctx, call) {
    if (ctx && ctx.path && ctx.path.length) return ctx.path;
    const nodes = ((call && call.steps) || []).filter((st) => st.kind === "node").map((st) => st.node);
    return nodes.length ? nodes : null;
  }

  function renderSummary(ctx, call) {
    const intents = (ctx && ctx.intents) || [];
    const last = intents[intents.length - 1];
    const path = pathOf(ctx, call);
    const consents = (ctx && ctx.consents) || (call && call.consents) || [];
    const surveys = (ctx && ctx.surveys) || [];
    const variants = Object.entries((ctx && ctx.variants) || {});
    const c = call ? C.callOf(call) : {};
    C.replace("summary", ...facts([
      ["Transfer", ctx && ctx.transfer ? (ctx.transfer.mode === "warm" ? "warm (you heard a whisper)" : "blind (REFER)") : null, "transfer_mode"],
      ["Whisper", ctx && ctx.transfer && ctx.transfer.whisper ? ctx.transfer.whisper : null, "whisper"],
      ["Caller", (ctx && ctx.caller) || c.caller, "caller"],
      ["Called", (ctx && ctx.called) || c.called, "called"],
      ["Wants", last ? last.intent + " (" + how(last.input) + " at " + last.node + ")" : null, "intent"],
      ["Intents", intents.length ? intents.map((i) => i.intent).join(" → ") : null, "intents"],
      ["Keys pressed", keysPressed(ctx, call), "digits"],
      ["Flow", (ctx && ctx.flow) || c.flow, "flow"],
      ["Path", path ? path.join(" → ") : null, "path"],
      ["Consent", consents.length ? consents.map((x) => (x.topic || x.purpose) + ": " + (x.granted ? "yes" : "no")).join(", ") : null, "consent"],
      ["Survey", surveys.length ? surveys.map((s) => s.scale.toUpperCase() + " " + s.score).join(", ") : null, "survey"],
      ["A/B", variants.length ? variants.map(([k, v]) => k + ": " + v).join(", ") : null, "variants"],
      ["Started", c.started_at ? C.time(c.started_at) + " " + C.zoneLabel() : null, "started"],
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
      C.showBanner("Enter your API token (agent, read or admin) to see this call.");
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
      // Not an error of the page: say it where the agent looks, in every card.
      C.showBanner("No such call: " + id + " (no transfer context and no call record). Check the link.");
      const badge = document.getElementById("call-state");
      badge.textContent = "no such call";
      badge.setAttribute("data-state", "unknown");
      const none = (what) => el("p", { class: "muted", "data-no-call": "", text: "No such call — " + what + "." });
      C.replace("summary", el("dt", { text: "Call" }), el("dd", { "data-field": "no-such-call", text: "no such call" }));
      C.replace("variables", none("no customer data"));
      C.replace("transcript", none("no conversation"));
      C.replace("steps", none("no steps"));
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
