//! A JSON Schema (draft 2020-12) of the flow format, for editors and
//! `centralita schema`. Hand-written next to the model (the model's serde
//! attributes are the source of truth; `tests/validation_steps.rs` checks that every
//! example flow matches the keys listed here).

use serde_json::{json, Value};

fn text() -> Value {
    json!({"oneOf": [
        {"type": "string"},
        {"type": "object", "description": "text by language tag", "additionalProperties": {"type": "string"}}
    ]})
}

fn duration() -> Value {
    json!({"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+(ms|s|m)?$"}]})
}

fn templates() -> Value {
    json!({"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}})
}

/// The JSON Schema of a flow file.
pub fn flow_schema() -> Value {
    let node_id = json!({"type": "string"});
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Centralita flow",
        "type": "object",
        "required": ["flow", "start", "nodes"],
        "additionalProperties": false,
        "properties": {
            "flow": {"type": "string"},
            "version": {"type": ["string", "number"]},
            "language": {"type": "string", "default": "en-US"},
            "consent_required": {"type": "string", "description": "outbound calls with this flow need the callee's recorded consent for this topic"},
            "start": node_id,
            "hours": {
                "type": "object", "additionalProperties": false,
                "properties": {
                    "timezone": {"type": "string", "description": "IANA time zone"},
                    "open": {"type": "object",
                        "propertyNames": {"pattern": "^(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?$"},
                        "additionalProperties": {"type": "string", "pattern": "^[0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2}$"}},
                    "holidays": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}},
                    "closed": node_id
                }
            },
            "nodes": {"type": "object", "additionalProperties": {"$ref": "#/$defs/node"}}
        },
        "$defs": {
            "node": {
                "type": "object", "additionalProperties": false,
                "properties": {
                    "say": text(),
                    "play": {"type": "string"},
                    "gather": {"$ref": "#/$defs/gather"},
                    "intents": {"type": "object", "additionalProperties": {
                        "type": "object", "additionalProperties": false,
                        "properties": {"dtmf": {"type": ["string", "integer"]}, "phrases": {"type": "array", "items": {"type": "string"}}}
                    }},
                    "on": {"type": "object", "additionalProperties": node_id},
                    "transfer": {
                        "type": "object", "additionalProperties": false, "required": ["to"],
                        "properties": {
                            "to": {"type": "string"},
                            "mode": {"enum": ["blind", "warm"]},
                            "context": {"type": "array", "items": {"enum": ["caller", "intent", "transcript", "digits", "path", "variables", "consent", "survey", "variants"]}},
                            "whisper": text(),
                            "accept": {"enum": ["dtmf", "auto"]},
                            "timeout": duration(),
                            "hold": text(),
                            "release": {"enum": ["refer"]},
                            "fallback": {"enum": ["bridge"]}
                        }
                    },
                    "hangup": {"type": "boolean"},
                    "set": templates(),
                    "webhook": {
                        "type": "object", "additionalProperties": false, "required": ["url"],
                        "properties": {
                            "name": {"type": "string"},
                            "url": {"type": "string"},
                            "method": {"enum": ["GET", "POST"]},
                            "body": templates(),
                            "timeout": duration(),
                            "map": {"type": "object", "additionalProperties": {"type": "string"}}
                        }
                    },
                    "branch": {
                        "type": "object", "additionalProperties": false,
                        "properties": {
                            "when": {"type": "array", "items": {
                                "type": "object", "additionalProperties": false, "required": ["if", "goto"],
                                "properties": {"if": {"type": "string", "description": "VAR (==|!=|<|>|contains) VALUE, or VAR exists"}, "goto": node_id}
                            }},
                            "split": {"type": "object", "additionalProperties": {
                                "type": "object", "additionalProperties": false, "required": ["weight", "goto"],
                                "properties": {"weight": {"type": "integer", "minimum": 0}, "goto": node_id}
                            }},
                            "else": node_id
                        }
                    },
                    "consent": {"type": "object", "additionalProperties": false, "properties": {"topic": {"type": "string"}}},
                    "survey": {"type": "object", "additionalProperties": false, "required": ["scale"],
                        "properties": {"scale": {"enum": ["csat", "nps"]}, "name": {"type": "string"}}},
                    "event": {
                        "type": "object", "additionalProperties": false, "required": ["kind"],
                        "properties": {
                            "kind": {"enum": ["lead", "order", "recontact"]},
                            "value": {"type": ["string", "number"]},
                            "currency": {"type": "string"},
                            "data": templates()
                        }
                    }
                }
            },
            "gather": {
                "type": "object", "additionalProperties": false,
                "properties": {
                    "digits": {"type": "integer", "minimum": 1},
                    "min_digits": {"type": "integer", "minimum": 0},
                    "max_digits": {"type": "integer", "minimum": 1},
                    "terminator": {"type": "string", "maxLength": 1},
                    "timeout": duration(),
                    "inter_digit_timeout": duration(),
                    "speech": {"type": "boolean"},
                    "min_confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    "barge_in": {"enum": ["any", "dtmf", "speech", "none"]},
                    "retries": {"type": "integer", "minimum": 0},
                    "reprompt": text()
                }
            }
        }
    })
}
