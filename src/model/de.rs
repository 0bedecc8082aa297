//! Reading the mapping files' values that take more than one shape: a column or a list of
//! columns ([`Columns`]), those or a derived value ([`NativeRef`]), a literal
//! ([`ScalarValue`]).
//!
//! Each shape is told by what the file holds (a string, a list, a map, a number), in one
//! pass. serde's `untagged` enums would buffer every value and try the shapes one after
//! another, building an error for each miss: most of the time a process spent reading
//! the built-in mappings went there. An error also names what was expected. A string is
//! taken in `visit_str` (serde's own `visit_string` hands an owned one to it).

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{Columns, NativeRef, ScalarValue, Transform};

/// The strings of a list.
fn strings<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<String>, A::Error> {
    let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
    while let Some(s) = seq.next_element::<String>()? {
        out.push(s);
    }
    Ok(out)
}

impl<'de> Deserialize<'de> for Columns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Columns;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a column name or a list of column names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Columns, E> {
                Ok(Columns::One(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Columns, A::Error> {
                strings(seq).map(Columns::FirstOf)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for NativeRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NativeRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a column name, a list of column names, or a map of `column` and `transform`",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NativeRef, E> {
                Ok(NativeRef::Column(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<NativeRef, A::Error> {
                strings(seq).map(NativeRef::FirstOf)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NativeRef, A::Error> {
                const FIELDS: &[&str] = &["column", "transform"];
                let mut column: Option<Columns> = None;
                let mut transform: Option<Transform> = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "column" if column.is_none() => column = Some(map.next_value()?),
                        "transform" if transform.is_none() => transform = Some(map.next_value()?),
                        "column" | "transform" => {
                            return Err(de::Error::custom(format_args!("duplicate field `{key}`")))
                        }
                        other => return Err(de::Error::unknown_field(other, FIELDS)),
                    }
                }
                Ok(NativeRef::Derived {
                    column: column.ok_or_else(|| de::Error::missing_field("column"))?,
                    transform: transform.ok_or_else(|| de::Error::missing_field("transform"))?,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for ScalarValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ScalarValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number, a boolean or a string")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ScalarValue, E> {
                Ok(ScalarValue::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ScalarValue, E> {
                Ok(ScalarValue::Int(v))
            }
            // Past i64, a number is kept as a float (as the untagged enum read it before).
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ScalarValue, E> {
                Ok(i64::try_from(v).map_or(ScalarValue::Float(v as f64), ScalarValue::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ScalarValue, E> {
                Ok(ScalarValue::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ScalarValue, E> {
                Ok(ScalarValue::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, String> {
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn each_shape_reads_from_yaml_and_json() {
        assert_eq!(yaml::<Columns>("Image"), Ok(Columns::One("Image".into())));
        assert_eq!(
            yaml::<Columns>("[Image, event_data.Image]"),
            Ok(Columns::FirstOf(vec![
                "Image".into(),
                "event_data.Image".into()
            ]))
        );
        assert_eq!(
            yaml::<NativeRef>("process.name"),
            Ok(NativeRef::Column("process.name".into()))
        );
        assert_eq!(
            yaml::<NativeRef>("[a, b]"),
            Ok(NativeRef::FirstOf(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            yaml::<NativeRef>("{column: [Image, image], transform: basename}"),
            Ok(NativeRef::Derived {
                column: Columns::FirstOf(vec!["Image".into(), "image".into()]),
                transform: Transform::Basename,
            })
        );
        assert_eq!(
            serde_json::from_str::<NativeRef>(r#"{"transform":"integer","column":"ProcessId"}"#)
                .ok(),
            Some(NativeRef::Derived {
                column: Columns::One("ProcessId".into()),
                transform: Transform::Integer,
            })
        );
        assert_eq!(yaml::<ScalarValue>("4688"), Ok(ScalarValue::Int(4688)));
        assert_eq!(yaml::<ScalarValue>("-1"), Ok(ScalarValue::Int(-1)));
        assert_eq!(yaml::<ScalarValue>("1.5"), Ok(ScalarValue::Float(1.5)));
        assert_eq!(
            yaml::<ScalarValue>("18446744073709551615"),
            Ok(ScalarValue::Float(18446744073709551615.0))
        );
        assert_eq!(yaml::<ScalarValue>("true"), Ok(ScalarValue::Bool(true)));
        assert_eq!(
            yaml::<ScalarValue>("Security"),
            Ok(ScalarValue::Text("Security".into()))
        );
        assert_eq!(
            yaml::<ScalarValue>("'1'"),
            Ok(ScalarValue::Text("1".into()))
        );
    }

    #[test]
    fn a_value_of_no_shape_says_what_was_expected() {
        let e = yaml::<NativeRef>("{column: Image, transfrom: basename}").unwrap_err();
        assert!(e.contains("unknown field `transfrom`"), "{e}");
        let e = yaml::<NativeRef>("{column: Image}").unwrap_err();
        assert!(e.contains("missing field `transform`"), "{e}");
        let e = yaml::<NativeRef>("{column: a, column: b, transform: basename}").unwrap_err();
        assert!(e.contains("duplicate"), "{e}");
        let e = yaml::<NativeRef>("{column: Image, transform: uppercase}").unwrap_err();
        assert!(e.contains("uppercase"), "{e}");
        let e = yaml::<NativeRef>("42").unwrap_err();
        assert!(e.contains("a column name, a list of column names"), "{e}");
        let e = yaml::<Columns>("[a, [b]]").unwrap_err();
        assert!(e.contains("expected a string"), "{e}");
        let e = yaml::<ScalarValue>("[1]").unwrap_err();
        assert!(e.contains("a number, a boolean or a string"), "{e}");
    }
}
