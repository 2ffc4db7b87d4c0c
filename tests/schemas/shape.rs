//! The shape of a JSON document: every path (array items as `[]`, keys of data-keyed maps as
//! `*`) with the JSON types seen there, so two documents with the same fields and types but
//! other values (timings, prices, currencies) have the same shape.
//!
//! Which objects are maps (keys are data: currencies, strategy ids, stage names) comes from
//! the document's JSON Schema: a key that is not in the object's `properties` while the
//! schema gives `additionalProperties` a schema is data and becomes `*`. Every other key is
//! a field and keeps its name, so a field added anywhere changes the shape.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Path → JSON types seen there (`null`, `boolean`, `integer`, `number`, `string`,
/// `object`, `array`), the union over every document added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shape(pub BTreeMap<String, BTreeSet<&'static str>>);

impl Shape {
    /// Adds `doc`'s paths, reading map-ness from `schema` (the document's root schema).
    pub fn add(&mut self, doc: &Value, schema: &Value) {
        self.walk("$", doc, Some(schema), schema);
    }

    /// One line per path: `$.strategies[].stats.sharpe null|number`.
    pub fn lines(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(path, types)| {
                format!(
                    "{path} {}",
                    types.iter().copied().collect::<Vec<_>>().join("|")
                )
            })
            .collect()
    }

    fn walk(&mut self, path: &str, value: &Value, schema: Option<&Value>, root: &Value) {
        self.0
            .entry(path.to_owned())
            .or_default()
            .insert(type_name(value));
        let schema = schema.and_then(|s| branch_for(s, value, root));
        match value {
            Value::Object(map) => {
                let properties = schema.and_then(|s| s.get("properties"));
                let extra = schema
                    .and_then(|s| s.get("additionalProperties"))
                    .filter(|a| a.is_object());
                for (key, item) in map {
                    let named = properties.and_then(|p| p.get(key));
                    let (segment, sub) = match (named, extra) {
                        (Some(sub), _) => (key.as_str(), Some(sub)),
                        (None, Some(sub)) => ("*", Some(sub)),
                        (None, None) => (key.as_str(), None),
                    };
                    self.walk(&format!("{path}.{segment}"), item, sub, root);
                }
            }
            Value::Array(items) => {
                let sub = schema.and_then(|s| s.get("items"));
                for item in items {
                    self.walk(&format!("{path}[]"), item, sub, root);
                }
            }
            _ => {}
        }
    }
}

pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `schema` with local `$ref`s (`#/$defs/x`) followed and, under `anyOf`/`oneOf`, the
/// branch that describes `value`'s type; only containers need one (to descend).
fn branch_for<'s>(schema: &'s Value, value: &Value, root: &'s Value) -> Option<&'s Value> {
    let schema = resolve(schema, root)?;
    let branches = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array);
    let Some(branches) = branches else {
        return Some(schema);
    };
    let wanted = match value {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        _ => return Some(schema),
    };
    branches
        .iter()
        .filter_map(|b| resolve(b, root))
        .find(|b| admits(b, wanted))
}

fn resolve<'s>(schema: &'s Value, root: &'s Value) -> Option<&'s Value> {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#')?;
            resolve(root.pointer(pointer)?, root)
        }
        None => Some(schema),
    }
}

fn admits(schema: &Value, wanted: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == wanted,
        Some(Value::Array(ts)) => ts.iter().any(|t| t == wanted),
        _ => false,
    }
}

#[test]
fn shape_names_fields_collapses_maps_and_unions_types() {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "equity": { "type": "object", "additionalProperties": { "$ref": "#/$defs/money" } },
            "rows": { "type": "array", "items": { "anyOf": [
                { "type": "null" },
                { "type": "object", "properties": { "x": {} } }
            ] } }
        },
        "$defs": { "money": { "type": "string" } }
    });
    let mut shape = Shape::default();
    shape.add(
        &serde_json::json!({"equity": {"USDT": "1.0"}, "rows": [{"x": 1}, {"x": null}, null]}),
        &schema,
    );
    shape.add(
        &serde_json::json!({"equity": {"BTC": "2.5"}, "rows": [], "new": 1.5}),
        &schema,
    );
    assert_eq!(
        shape.lines(),
        [
            "$ object",
            "$.equity object",
            "$.equity.* string",
            "$.new number",
            "$.rows array",
            "$.rows[] null|object",
            "$.rows[].x integer|null",
        ]
    );
}
