//! A JSON Schema (draft 2020-12) of the flow format, for editors and
//! `centralita schema`. Hand-written next to the model (the model's serde
//! attributes are the source of truth; `tests/validation_steps.rs` checks that every
//! example flow matches the keys listed here). Every key has a
//! `description` (editors show it on hover); `flows/flow.schema.json` is
//! this schema checked in, which the example flows name in their
//! `# yaml-language-server: $schema=` line.

use serde_json::{json, Value};

/// The schema's `$id`.
pub const FLOW_SCHEMA_ID: &str = "urn:centralita:flow-schema:1";

/// `value` with its `description`.
fn d(description: &str, mut value: Value) -> Value {
    if let Some(map) = value.as_object_mut() {
        map.insert("description".to_owned(), Value::String(description.to_owned()));
    }
    value
}

fn text(description: &str) -> Value {
    d(
        description,
        json!({"oneOf": [
            {"type": "string", "description": "the same text in every language; `{{var}}` and `{{var|filter}}` templates"},
            {"type": "object", "description": "text by language tag (`en-US`, `es-AR`); the call's language, then the same primary language, then the flow's", "additionalProperties": {"type": "string"}}
        ]}),
    )
}

fn duration(description: &str) -> Value {
    d(description, json!({"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+(ms|s|m)?$"}]}))
}

fn templates(description: &str) -> Value {
    d(description, json!({"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}))
}

fn node_id(description: &str) -> Value {
    d(description, json!({"type": "string"}))
}

fn transfer() -> Value {
    d(
        "hand the call to a person (a REFER, or a warm transfer); `on`: `failed`, `exhausted`, and for warm `no_answer`, `busy`, `declined`",
        json!({
            "type": "object", "additionalProperties": false, "required": ["to"],
            "properties": {
                "to": d("target URI (sip: or sips:); `${transfer.agent_uri}` is the configured agent URI", json!({"type": "string"})),
                "mode": d("`blind` (REFER, default) or `warm` (call the agent first, whisper a summary, then bridge)", json!({"enum": ["blind", "warm"]})),
                "context": d("parts of the call context sent with the transfer (the flow name always is)", json!({"type": "array", "items": {"enum": ["caller", "intent", "transcript", "digits", "path", "variables", "consent", "survey", "variants"]}})),
                "max_attempts": d("attempts of this transfer per call (default 2); the failure that uses them up fires `exhausted` when mapped, and entering the node again fires `exhausted` at once", json!({"type": "integer", "minimum": 1, "default": 2})),
                "apology": text("said (before the next prompt) after each failed attempt; default: a short apology in the call's language; \"\" for none"),
                "whisper": text("warm: what the agent alone hears on answering (templates; default: a summary of the context)"),
                "accept": d("warm: `dtmf` (1 accepts, 2 declines; default) or `auto` (taken once the whisper has played)", json!({"enum": ["dtmf", "auto"]})),
                "timeout": duration("warm: how long the agent's phone may ring (default 20s), then `no_answer`"),
                "hold": text("warm: what the caller hears while the agent is called (default: a built-in music loop)"),
                "caller_id": d("warm: the agent INVITE's caller ID: `caller` (default, the caller's number), `gateway` (the number called), or a number / {{template}}", json!({"type": "string"})),
                "release": d("warm, once bridged: `refer` sends REFER with Replaces (RFC 3891) to the caller's side so the gateway leaves the media path; refused, the bridge stays", json!({"enum": ["refer"]})),
                "fallback": d("blind: `bridge` dials the agent and bridges when the REFER fails", json!({"enum": ["bridge"]}))
            }
        }),
    )
}

fn webhook() -> Value {
    d(
        "call an HTTP service (a CRM look-up); `on`: `done` (2xx) or `failed`",
        json!({
            "type": "object", "additionalProperties": false, "required": ["url"],
            "properties": {
                "name": d("name in logs and records (default: the node's)", json!({"type": "string"})),
                "url": d("http(s) URL; `{{var}}` values are percent-encoded for their URL component", json!({"type": "string"})),
                "method": d("GET (body fields as query parameters) or POST (a JSON object, default)", json!({"enum": ["GET", "POST"]})),
                "body": templates("fields sent (query parameters or JSON); values are templates"),
                "timeout": duration("how long to wait before `failed` (default 5s)"),
                "map": d("variable name to a dotted path in the JSON answer (`contact.first_name`)", json!({"type": "object", "additionalProperties": {"type": "string"}}))
            }
        }),
    )
}

fn branch() -> Value {
    d(
        "choose the next node: the first `when` that holds, else an A/B `split`, else `else`",
        json!({
            "type": "object", "additionalProperties": false,
            "properties": {
                "when": d("conditions tried in order", json!({"type": "array", "items": {
                    "type": "object", "additionalProperties": false, "required": ["if", "goto"],
                    "properties": {
                        "if": d("VAR (==|!=|<|>|contains) VALUE, or VAR exists", json!({"type": "string"})),
                        "goto": node_id("the node when the condition holds")
                    }
                }})),
                "split": d("A/B variants by name, sticky per caller", json!({"type": "object", "additionalProperties": {
                    "type": "object", "additionalProperties": false, "required": ["weight", "goto"],
                    "properties": {
                        "weight": d("relative weight of the variant", json!({"type": "integer", "minimum": 0})),
                        "goto": node_id("the variant's node")
                    }
                }})),
                "else": node_id("the node when no condition holds")
            }
        }),
    )
}

fn event() -> Value {
    d(
        "emit a business event on entry (KPIs and the events outbox)",
        json!({
            "type": "object", "additionalProperties": false, "required": ["kind"],
            "properties": {
                "kind": d("the event's kind", json!({"enum": ["lead", "order", "recontact"]})),
                "value": d("the value (orders); a template", json!({"type": ["string", "number"]})),
                "currency": d("ISO 4217 code of the value", json!({"type": "string"})),
                "data": templates("other fields; values are templates")
            }
        }),
    )
}

fn node() -> Value {
    d(
        "one step of the flow",
        json!({
            "type": "object", "additionalProperties": false,
            "properties": {
                "say": text("text to speak (TTS); addresses such as acme.example/help are read out naturally"),
                "play": d("id of a recorded prompt in the prompt library ([prompts].dir)", json!({"type": "string"})),
                "no_match_say": text("said before the prompt when the caller is asked again after `no_match` (default: the flow's `no_match_say`, else \"Sorry, I didn't get that.\" in the call's language unless `gather.reprompt` is set; \"\" for nothing)"),
                "gather": {"$ref": "#/$defs/gather", "description": "listen for keys and (with `speech: true`) speech"},
                "intents": d("what the caller may press or say here, by intent name (an `on` event)", json!({"type": "object", "additionalProperties": {
                    "type": "object", "additionalProperties": false,
                    "properties": {
                        "dtmf": d("the keys that select the intent", json!({"type": ["string", "integer"]})),
                        "phrases": d("words or phrases that select it by speech", json!({"type": "array", "items": {"type": "string"}}))
                    }
                }})),
                "on": d("event (an intent, no_input, no_match, exhausted, failed, done, yes, no) to the next node; an unmapped event hangs up", json!({"type": "object", "additionalProperties": {"type": "string"}})),
                "transfer": transfer(),
                "hangup": d("end the call after the prompt", json!({"type": "boolean"})),
                "set": templates("variables to set on entry; values are templates"),
                "webhook": webhook(),
                "branch": branch(),
                "consent": d("ask for consent (the prompt is the question); `on`: `yes`, `no`", json!({"type": "object", "additionalProperties": false, "properties": {"topic": d("what is consented to (default `consent`); the answer is variable `consent.TOPIC`", json!({"type": "string"}))}})),
                "survey": d("ask a CSAT (1-5) or NPS (0-10) question; `on`: `done`", json!({"type": "object", "additionalProperties": false, "required": ["scale"],
                    "properties": {
                        "scale": d("`csat` (1-5) or `nps` (0-10)", json!({"enum": ["csat", "nps"]})),
                        "name": d("the survey's name in records (default: the scale)", json!({"type": "string"}))
                    }})),
                "event": event(),
                "record": d("on entry, start, stop, pause (silence until resume) or resume the call's recording, as far as the flow's `recording:` policy allows", json!({"enum": ["start", "stop", "pause", "resume"]}))
            }
        }),
    )
}

fn gather() -> Value {
    d(
        "how a node listens",
        json!({
            "type": "object", "additionalProperties": false,
            "properties": {
                "digits": d("stop after exactly this many keys", json!({"type": "integer", "minimum": 1})),
                "min_digits": d("fewer keys than this are `no_match`", json!({"type": "integer", "minimum": 0})),
                "max_digits": d("input ends on its own at this many keys", json!({"type": "integer", "minimum": 1})),
                "terminator": d("a key that ends the input (`#`)", json!({"type": "string", "maxLength": 1})),
                "timeout": duration("silence after the prompt before `no_input` (default 5s)"),
                "inter_digit_timeout": duration("silence between keys before the input ends (default 3s)"),
                "speech": d("listen for speech too", json!({"type": "boolean"})),
                "min_confidence": d("speech below this confidence (0-1) is rejected: recorded as a `rejected` step (words, intent guess, confidence) and a `no_match` (default 0.5)", json!({"type": "number", "minimum": 0, "maximum": 1})),
                "confirm_below": d("speech matching an intent with a confidence from `min_confidence` up to this is confirmed first (\"Did you say agent?\"; yes/no in English or Spanish, or keys 1/2): yes takes the intent, no is `no_match`; at least `min_confidence`; none: never", json!({"type": "number", "minimum": 0, "maximum": 1})),
                "confirm_say": text("the confirmation question; `{{choice}}` is the intent's phrase heard (default: the flow's `confirm_say`, else \"Did you say {{choice}}? Say yes or press 1; say no or press 2.\" in the call's language)"),
                "barge_in": d("which input stops the prompt (default `any`)", json!({"enum": ["any", "dtmf", "speech", "none"]})),
                "retries": d("re-prompts before `no_input`/`no_match` become `exhausted` (default 2)", json!({"type": "integer", "minimum": 0})),
                "reprompt": text("said instead of the prompt when the caller comes back after `no_input` or `no_match`"),
                "sensitive": d("card numbers, PINs: the call's recording carries silence while the flow is at this node (prompt and keys)", json!({"type": "boolean"}))
            }
        }),
    )
}

/// The JSON Schema of a flow file.
pub fn flow_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": FLOW_SCHEMA_ID,
        "title": "Centralita flow",
        "description": "A Centralita voice flow (DESIGN.md §4): nodes that speak, listen and route the call. Check one with `centralita validate`, try it with `centralita simulate`.",
        "type": "object",
        "required": ["flow", "start", "nodes"],
        "additionalProperties": false,
        "properties": {
            "flow": d("the flow's name (`PUT /v1/flows/{name}`, records, routes)", json!({"type": "string"})),
            "version": d("the flow's version, recorded with consent answers (default 1)", json!({"type": ["string", "number"]})),
            "language": d("BCP 47 tag of the prompts and of speech recognition (default en-US)", json!({"type": "string", "default": "en-US"})),
            "consent_required": d("outbound calls with this flow need the callee's recorded consent for this topic", json!({"type": "string"})),
            "status_callback": d("where each call's status changes are POSTed (signed and retried like `[events]`): a URL (every status) or `{ url, events }`; `POST /v1/calls` `status_callback` replaces it for that call", json!({
                "oneOf": [
                    {"type": "string", "pattern": "^https?://"},
                    {"type": "object", "additionalProperties": false, "required": ["url"], "properties": {
                        "url": d("an http:// or https:// URL", json!({"type": "string", "pattern": "^https?://"})),
                        "events": d("the statuses sent (default: all)", json!({"type": "array", "minItems": 1,
                            "items": {"enum": ["ringing", "answered", "transferred", "completed"]}}))
                    }}
                ]
            })),
            "recording": d("when the call is recorded (a stereo WAV: caller left, bot/agent right): `never` (default), `always` (from the answer), or `{ on_consent: TOPIC }` (once the caller grants that consent; a refusal is never recorded)", json!({
                "oneOf": [
                    {"enum": ["never", "always"]},
                    {"type": "object", "additionalProperties": false, "required": ["on_consent"], "properties": {
                        "on_consent": d("the `consent:` topic that must be granted", json!({"type": "string"}))
                    }}
                ]
            })),
            "start": node_id("the node a call enters first"),
            "no_match_say": text("said before the prompt when a node asks again after `no_match`, for nodes without their own (default: \"Sorry, I didn't get that.\" in the call's language, unless the node has `gather.reprompt`; \"\" for nothing)"),
            "confirm_say": text("the question confirming a mid-confidence answer (`gather.confirm_below`) for gathers without their own; `{{choice}}` is the phrase heard"),
            "hours": d("business hours; a closed call starts at `closed` (the gateway and `simulate` use the real clock unless pinned)", json!({
                "type": "object", "additionalProperties": false,
                "properties": {
                    "timezone": d("IANA time zone (America/Argentina/Cordoba)", json!({"type": "string"})),
                    "open": d("open times by day range: { mon-fri: \"09:00-18:00\", sat: \"09:00-13:00\" }", json!({"type": "object",
                        "propertyNames": {"pattern": "^(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?$"},
                        "additionalProperties": {"type": "string", "pattern": "^[0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2}$"}})),
                    "holidays": d("closed dates (YYYY-MM-DD)", json!({"type": "array", "items": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}})),
                    "closed": node_id("the node a call enters when closed")
                }
            })),
            "nodes": d("the nodes, by name (names are unique)", json!({"type": "object", "additionalProperties": {"$ref": "#/$defs/node"}}))
        },
        "$defs": {
            "node": node(),
            "gather": gather()
        }
    })
}
