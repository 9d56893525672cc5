//! JSON body conditions: `body = { "message.to" = "*@example.com" }`.
//!
//! Rules see only the first [`BODY_PREFIX_MAX`](super::BODY_PREFIX_MAX)
//! bytes. A body that is longer, not JSON, or not a JSON object makes
//! every body condition fail, so a rule can never be satisfied by a part
//! of the body it did not see.

use std::{borrow::Cow, fmt};

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why a body has no fields to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyProblem {
    /// The request has no body, or the gateway did not read it.
    Absent,
    /// Not JSON, cut short at the prefix limit, or with a key twice.
    NotJson(String),
    NotObject,
}

impl fmt::Display for BodyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Absent => f.write_str("the request has no body"),
            Self::NotJson(error) => write!(f, "the body is not JSON ({error})"),
            Self::NotObject => f.write_str("the body is JSON but not an object"),
        }
    }
}

/// Parses a body prefix as a JSON object.
pub fn parse(prefix: Option<&[u8]>) -> Result<Value, BodyProblem> {
    let prefix = prefix
        .filter(|p| !p.is_empty())
        .ok_or(BodyProblem::Absent)?;
    let Strict(value) =
        serde_json::from_slice(prefix).map_err(|e| BodyProblem::NotJson(e.to_string()))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(BodyProblem::NotObject)
    }
}

/// A dotted path into a JSON body: `message.to`, `items.0.id` (a number
/// indexes an array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    text: Box<str>,
    parts: Box<[Box<str>]>,
}

impl FieldPath {
    pub fn new(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.split('.').any(str::is_empty) {
            return Err(format!(
                "invalid body field {text:?}: expected dotted names such as \"message.to\""
            ));
        }
        Ok(Self {
            text: text.into(),
            parts: text.split('.').map(Box::from).collect(),
        })
    }

    /// The value at this path, if there is one.
    #[must_use]
    pub fn find<'v>(&self, body: &'v Value) -> Option<&'v Value> {
        self.parts.iter().try_fold(body, |value, part| match value {
            Value::Object(map) => map.get(&**part),
            Value::Array(items) => items.get(part.parse::<usize>().ok()?),
            _ => None,
        })
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A value as a glob sees it: strings without quotes, everything else as
/// JSON text (`false`, `3`, `null`, `{"a":1}`).
#[must_use]
pub fn render(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

/// A JSON value that refuses duplicate keys. `serde_json` keeps the last of
/// two equal keys, while some servers keep the first: a rule checking
/// `to` must not approve `{"to": "ok@example.com", "to": "evil@x"}`.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate key {key:?}"
                )));
            }
            let Strict(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests;
