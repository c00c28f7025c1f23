//! The fields a reader needs from one labels line, read without building a
//! JSON tree: strings borrowed from the line unless they hold escapes.
//! A line the quick path cannot take is read again as a `serde_json::Value`,
//! which gives the messages (and the last-one-wins duplicate keys) of a
//! plain JSON reading.

use std::borrow::Cow;
use std::fmt;
use std::net::Ipv4Addr;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::label::Class;

/// What a labels line says about its frame.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Fields<'a> {
    pub frame: u64,
    pub actor: Cow<'a, str>,
    pub class: Class,
    pub cause: Cow<'a, str>,
    pub addrs: Option<(Ipv4Addr, Ipv4Addr)>,
}

/// Reads `line`; the error is the message (naming the field).
pub(super) fn fields(line: &str) -> Result<Fields<'_>, String> {
    // serde would also read an array into `Raw`, field by field.
    if !line.trim_start().starts_with('{') {
        return from_value(line);
    }
    match serde_json::from_str::<Raw<'_>>(line) {
        Ok(raw) => raw.fields(),
        Err(_) => from_value(line),
    }
}

/// A JSON value as far as a labels line's fields need it.
#[derive(Debug)]
enum Scalar<'a> {
    Str(Cow<'a, str>),
    U64(u64),
    Other,
}

impl Scalar<'_> {
    fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// The object, other keys skipped unread.
#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(default, borrow)]
    frame: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    actor: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    class: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    cause: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    src: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    dst: Option<Scalar<'a>>,
}

/// The checks, in the order (and with the messages) of every reader.
fn checked<'a>(
    frame: Option<u64>,
    actor: Option<Cow<'a, str>>,
    class: Option<&str>,
    cause: Option<Cow<'a, str>>,
    addrs: Option<(Ipv4Addr, Ipv4Addr)>,
) -> Result<Fields<'a>, String> {
    let missing = |name: &str| format!("`{name}`: missing or not a string");
    let frame = frame.ok_or("`frame`: missing or not a number")?;
    let class = Class::parse(class.ok_or_else(|| missing("class"))?)
        .ok_or("`class`: expected benign or malicious")?;
    Ok(Fields {
        frame,
        actor: actor.ok_or_else(|| missing("actor"))?,
        class,
        cause: cause.ok_or_else(|| missing("cause"))?,
        addrs,
    })
}

impl<'a> Raw<'a> {
    fn fields(self) -> Result<Fields<'a>, String> {
        let text = |s: Option<Scalar<'a>>| match s {
            Some(Scalar::Str(s)) => Some(s),
            _ => None,
        };
        let addr = |s: &Option<Scalar<'_>>| s.as_ref()?.as_str()?.parse::<Ipv4Addr>().ok();
        let addrs = addr(&self.src).zip(addr(&self.dst));
        let frame = match self.frame {
            Some(Scalar::U64(n)) => Some(n),
            _ => None,
        };
        let class = self.class.as_ref().and_then(Scalar::as_str);
        checked(frame, text(self.actor), class, text(self.cause), addrs)
    }
}

/// The slow path: the line as a JSON tree.
fn from_value(line: &str) -> Result<Fields<'static>, String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let text = |name: &str| Some(Cow::Owned(v.get(name)?.as_str()?.to_string()));
    let addr = |name: &str| v.get(name)?.as_str()?.parse::<Ipv4Addr>().ok();
    checked(
        v.get("frame").and_then(|x| x.as_u64()),
        text("actor"),
        v.get("class").and_then(|x| x.as_str()),
        text("cause"),
        addr("src").zip(addr("dst")),
    )
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor(std::marker::PhantomData))
    }
}

/// Reads any value into a [`Scalar`] borrowing from the input (`'a`).
struct ScalarVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ScalarVisitor<'a> {
    type Value = Scalar<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(s.to_string())))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(s)))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Scalar::U64(n))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(n).map_or(Scalar::Other, Scalar::U64))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both readings agree on every line, in value and in message.
    #[test]
    fn quick_and_tree_readings_agree() {
        let lines = [
            r#"{"frame":3,"src":"203.0.113.66","dst":"198.51.100.10","actor":"a","class":"benign","cause":"c"}"#,
            r#"{"frame":3,"actor":"a\"b","class":"malicious","cause":"c\u0041"}"#,
            r#"{"frame":3,"src":"x","dst":"198.51.100.10","actor":"a","class":"benign","cause":"c","n":[1,{"k":null}]}"#,
            r#"{"frame":-1,"actor":"a","class":"benign","cause":"c"}"#,
            r#"{"frame":1.0,"actor":"a","class":"benign","cause":"c"}"#,
            r#"{"frame":3,"actor":7,"class":"benign","cause":"c"}"#,
            r#"{"frame":3,"actor":"a","class":"evil","cause":"c"}"#,
            r#"{"frame":3,"actor":"a","class":"benign"}"#,
            r#"{"frame":3,"frame":4,"actor":"a","class":"benign","cause":"c"}"#,
            r#"[1,2]"#,
            r#"[3,"a","benign","c"]"#,
            r#"{"frame":3,"#,
            "7",
        ];
        for line in lines {
            assert_eq!(fields(line), from_value(line), "{line}");
        }
        // Without escapes the strings are borrowed from the line (the quick
        // path); a duplicate key takes the tree's reading.
        for line in [lines[0], lines[2]] {
            let f = fields(line).unwrap();
            assert!(matches!(f.actor, Cow::Borrowed(_)), "{line}");
        }
        assert_eq!(fields(lines[8]).unwrap().frame, 4);
        assert_eq!(
            fields(lines[3]).unwrap_err(),
            "`frame`: missing or not a number"
        );
    }

    proptest::proptest! {
        /// Lines made of a labels line's own pieces, in any order and
        /// number: the quick path reads them as the tree does.
        #[test]
        fn any_line_reads_as_the_tree_does(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "{", "}", "[", "]", ",", ":", "\"frame\"", "\"actor\"", "\"class\"",
                    "\"cause\"", "\"src\"", "\"dst\"", "\"benign\"", "\"malicious\"",
                    "\"a\\\"b\"", "\"203.0.113.9\"", "7", "-1", "2.5", "null", "true",
                    "18446744073709551616", " ",
                ]),
                0..24,
            )
        ) {
            let line = parts.concat();
            proptest::prop_assert_eq!(fields(&line), from_value(&line), "{}", line);
        }
    }
}
