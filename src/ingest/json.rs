//! One JSON line in, its flattened fields out, streamed to a callback without building a
//! JSON tree: `{"process":{"pid":1},"tags":["a"]}` gives `process.pid` = 1 and
//! `tags` = `["a"]` (arrays are kept as JSON text). A key that already holds dots stays as
//! it is; an empty nested object adds no field.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// A flattened value as read, before it is converted to its column's type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Leaf<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer above `i64::MAX`: kept as its decimal text, never rounded.
    BigInt(u64),
    Float(f64),
    Str(&'a str),
    /// JSON text of an array.
    Json(&'a str),
}

/// What the callback may say about a field: stop and reject the record with this reason.
pub(crate) type FieldResult = Result<(), String>;

/// Parses one line and calls `field` for every flattened field, in document order.
/// The error is the reason to reject the line (the callback's own reason, if it gave one).
pub(crate) fn flatten_line<F>(
    line: &[u8],
    key_buf: &mut String,
    field: &mut F,
) -> Result<(), String>
where
    F: FnMut(&str, Leaf<'_>) -> FieldResult,
{
    let mut stop: Option<String> = None;
    key_buf.clear();
    let mut de = serde_json::Deserializer::from_slice(line);
    let result = de
        .deserialize_any(TopVisitor {
            key: key_buf,
            field,
            stop: &mut stop,
        })
        .and_then(|()| de.end());
    match (result, stop) {
        (_, Some(reason)) => Err(reason),
        (Ok(()), None) => Ok(()),
        (Err(e), None) => Err(describe(&e)),
    }
}

/// serde_json's message without its " at line 1 column N" (every line is parsed alone,
/// so the line is always 1), with the column kept.
fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let message = text
        .rsplit_once(" at line ")
        .map(|(m, _)| m)
        .unwrap_or(&text);
    match e.classify() {
        // Well-formed JSON of the wrong shape: "invalid type: sequence, expected a JSON object".
        serde_json::error::Category::Data => message.to_string(),
        _ if e.column() > 0 => format!("invalid JSON: {message} (column {})", e.column()),
        _ => format!("invalid JSON: {message}"),
    }
}

struct TopVisitor<'a, F> {
    key: &'a mut String,
    field: &'a mut F,
    stop: &'a mut Option<String>,
}

impl<'de, F> Visitor<'de> for TopVisitor<'_, F>
where
    F: FnMut(&str, Leaf<'_>) -> FieldResult,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        flatten_map(map, self.key, self.field, self.stop)
    }
}

/// Visits the entries of an object whose prefix (`a.b.`, or empty at the top) is in `key`.
fn flatten_map<'de, A, F>(
    mut map: A,
    key: &mut String,
    field: &mut F,
    stop: &mut Option<String>,
) -> Result<(), A::Error>
where
    A: MapAccess<'de>,
    F: FnMut(&str, Leaf<'_>) -> FieldResult,
{
    let base = key.len();
    while map.next_key_seed(AppendKey(key))?.is_some() {
        map.next_value_seed(ValueSeed {
            key: &mut *key,
            field: &mut *field,
            stop: &mut *stop,
        })?;
        key.truncate(base);
    }
    Ok(())
}

/// Deserializes a map key by appending it to the current prefix.
struct AppendKey<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for AppendKey<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for AppendKey<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.push_str(v);
        Ok(())
    }
}

/// Deserializes a value: a leaf goes to the callback, an object is flattened further.
struct ValueSeed<'a, F> {
    key: &'a mut String,
    field: &'a mut F,
    stop: &'a mut Option<String>,
}

impl<F> ValueSeed<'_, F>
where
    F: FnMut(&str, Leaf<'_>) -> FieldResult,
{
    fn emit<E: de::Error>(self, leaf: Leaf<'_>) -> Result<(), E> {
        match (self.field)(self.key, leaf) {
            Ok(()) => Ok(()),
            Err(reason) => {
                *self.stop = Some(reason);
                Err(E::custom("record rejected"))
            }
        }
    }
}

impl<'de, F> DeserializeSeed<'de> for ValueSeed<'_, F>
where
    F: FnMut(&str, Leaf<'_>) -> FieldResult,
{
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, F> Visitor<'de> for ValueSeed<'_, F>
where
    F: FnMut(&str, Leaf<'_>) -> FieldResult,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.emit(Leaf::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.emit(Leaf::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.emit(Leaf::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.emit(Leaf::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        match i64::try_from(v) {
            Ok(i) => self.emit(Leaf::Int(i)),
            Err(_) => self.emit(Leaf::BigInt(v)),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.emit(Leaf::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.emit(Leaf::Str(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.key.push('.');
        flatten_map(map, self.key, self.field, self.stop)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<serde_json::Value>()? {
            items.push(item);
        }
        let text = serde_json::Value::Array(items).to_string();
        self.emit(Leaf::Json(&text))
    }
}

/// A float as JSON writes it (shortest text that reads back as the same number).
pub(crate) fn float_text(x: f64) -> String {
    match serde_json::Number::from_f64(x) {
        Some(n) => n.to_string(),
        None => x.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        let mut key = String::new();
        flatten_line(line.as_bytes(), &mut key, &mut |k: &str, v: Leaf<'_>| {
            out.push((k.to_string(), format!("{v:?}")));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn nested_objects_flatten_to_dotted_names() {
        let got = fields(r#"{"a":1,"process":{"pid":7,"parent":{"name":"x"}},"b":null}"#).unwrap();
        let names: Vec<_> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["a", "process.pid", "process.parent.name", "b"]);
        assert_eq!(got[1].1, "Int(7)");
        assert_eq!(got[2].1, r#"Str("x")"#);
        assert_eq!(got[3].1, "Null");
    }

    #[test]
    fn arrays_become_json_text_and_dotted_keys_stay() {
        let got =
            fields(r#"{"tags":["a",{"b":1}],"event_data.Image":"C:\\x.exe","e":{}}"#).unwrap();
        assert_eq!(
            got[0],
            ("tags".into(), r#"Json("[\"a\",{\"b\":1}]")"#.into())
        );
        assert_eq!(
            got[1],
            ("event_data.Image".into(), r#"Str("C:\\x.exe")"#.into())
        );
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn numbers_keep_their_kind() {
        let got =
            fields(r#"{"i":-3,"u":18446744073709551615,"f":1.5,"t":true,"s":"3108"}"#).unwrap();
        let kinds: Vec<_> = got.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "Int(-3)",
                "BigInt(18446744073709551615)",
                "Float(1.5)",
                "Bool(true)",
                r#"Str("3108")"#
            ]
        );
    }

    #[test]
    fn non_objects_and_bad_json_are_reasons() {
        assert_eq!(
            fields("[1,2]").unwrap_err(),
            "invalid type: sequence, expected a JSON object"
        );
        assert!(fields("42").unwrap_err().contains("expected a JSON object"));
        let e = fields(r#"{"a": tru}"#).unwrap_err();
        assert!(e.starts_with("invalid JSON: expected ident"), "{e}");
        assert!(e.contains("(column "), "{e}");
        assert!(!e.contains("line 1"), "{e}");
        assert!(fields(r#"{"a":1} x"#)
            .unwrap_err()
            .contains("trailing characters"));
    }

    #[test]
    fn callback_reason_wins() {
        let mut key = String::new();
        let e = flatten_line(
            br#"{"a":1,"b":2}"#,
            &mut key,
            &mut |k: &str, _: Leaf<'_>| {
                if k == "b" {
                    Err("no b".to_string())
                } else {
                    Ok(())
                }
            },
        )
        .unwrap_err();
        assert_eq!(e, "no b");
    }

    #[test]
    fn float_text_is_shortest_round_trip() {
        assert_eq!(float_text(1.5), "1.5");
        assert_eq!(float_text(10.0), "10.0");
        assert_eq!(float_text(0.1), "0.1");
    }
}
