//! Parsing of certstream messages (the CaliDog protocol), borrowed from the frame's text.
//!
//! This is the hot path: every certificate of every CT log passes here, hundreds per second live
//! and hundreds of thousands per second in `replay`. The parser borrows every string from the
//! frame (`Cow::Borrowed` unless the JSON has escapes), reads only the fields certhound uses and
//! skips the rest (`extensions`, `as_der`, `chain`) without building values for them.
//!
//! Three message types are understood, in any key order:
//! - `certificate_update`: `data` is an object with `leaf_cert.all_domains` (the `/` lite and
//!   `/full-stream` shapes are the same here: full only adds fields that are skipped);
//! - `dns_entries`: `data` is an array of names (`/domains-only`);
//! - `heartbeat`: no data; ignored.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// One parsed certstream message.
#[derive(Debug)]
pub enum Message<'a> {
    /// A certificate or precertificate seen in a CT log.
    Certificate(Box<CertUpdate<'a>>),
    /// The names of a certificate, without the rest (`/domains-only`).
    Domains(Vec<Cow<'a, str>>),
    /// A keep-alive of some servers.
    Heartbeat,
    /// A `message_type` certhound does not know; counted and skipped.
    Unknown(Cow<'a, str>),
}

/// Why a frame is not a usable certstream message.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("invalid JSON or wrong field type: {0}")]
    Json(#[from] serde_json::Error),
    #[error("missing `message_type`")]
    NoType,
    #[error("`{0}` message without usable `data`")]
    NoData(&'static str),
}

/// `data` of a `certificate_update`.
#[derive(Debug, Deserialize)]
pub struct CertUpdate<'a> {
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub update_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub leaf_cert: LeafCert<'a>,
    #[serde(default)]
    pub cert_index: Option<u64>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub cert_link: Option<Cow<'a, str>>,
    #[serde(default)]
    pub seen: Option<f64>,
    #[serde(borrow, default)]
    pub source: Option<Source<'a>>,
}

/// The fields of `leaf_cert` certhound reports.
#[derive(Debug, Deserialize)]
pub struct LeafCert<'a> {
    #[serde(borrow, deserialize_with = "str_vec")]
    pub all_domains: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub subject: Option<Name<'a>>,
    #[serde(borrow, default)]
    pub issuer: Option<Name<'a>>,
    #[serde(default)]
    pub not_before: Option<i64>,
    #[serde(default)]
    pub not_after: Option<i64>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub serial_number: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub fingerprint: Option<Cow<'a, str>>,
}

/// A certificate subject or issuer. The `C`, `L`, `ST`, `OU` parts are skipped.
#[derive(Debug, Deserialize)]
pub struct Name<'a> {
    #[serde(rename = "CN", borrow, default, deserialize_with = "opt_str")]
    pub cn: Option<Cow<'a, str>>,
    #[serde(rename = "O", borrow, default, deserialize_with = "opt_str")]
    pub o: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub aggregated: Option<Cow<'a, str>>,
}

impl Name<'_> {
    /// The most readable form: `aggregated` (`/C=US/CN=R3/O=Let's Encrypt`), else O, else CN.
    pub fn display(&self) -> Option<&str> {
        self.aggregated
            .as_deref()
            .or(self.o.as_deref())
            .or(self.cn.as_deref())
    }
}

/// The CT log a certificate was seen in.
#[derive(Debug, Deserialize)]
pub struct Source<'a> {
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub url: Option<Cow<'a, str>>,
}

/// Parses one websocket text frame.
pub fn parse(text: &str) -> Result<Message<'_>, ParseError> {
    parse_with_seq(text).map(|(m, _)| m)
}

/// Parses one frame and its `seq` (certhound's server numbers its messages; others do not).
pub fn parse_with_seq(text: &str) -> Result<(Message<'_>, Option<u64>), ParseError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let env = match Envelope::deserialize(&mut de).and_then(|env| de.end().map(|_| env)) {
        Ok(env) => env,
        Err(e) => {
            // `data` before `message_type` is read by its shape; an unknown type's data may not
            // fit the known shapes. Only for such failures, look at the type alone.
            return match peek_type(text) {
                Some(kind) if !matches!(kind.as_ref(), "certificate_update" | "dns_entries") => {
                    Ok((Message::Unknown(kind), None))
                }
                _ => Err(e.into()),
            };
        }
    };
    let Some(kind) = env.message_type else {
        return Err(ParseError::NoType);
    };
    let seq = env.seq;
    let message = match (kind.as_ref(), env.data) {
        ("certificate_update", Some(Data::Cert(c))) => Ok(Message::Certificate(c)),
        ("certificate_update", _) => Err(ParseError::NoData("certificate_update")),
        ("dns_entries", Some(Data::Names(n))) => Ok(Message::Domains(n)),
        ("dns_entries", _) => Err(ParseError::NoData("dns_entries")),
        ("heartbeat", _) => Ok(Message::Heartbeat),
        _ => Ok(Message::Unknown(kind)),
    };
    message.map(|m| (m, seq))
}

/// `{"message_type": ..., "data": ...}` in either key order. `data` is read by its shape (object
/// or array) in the same pass, so it does not matter whether `message_type` comes first.
struct Envelope<'a> {
    message_type: Option<Cow<'a, str>>,
    data: Option<Data<'a>>,
    seq: Option<u64>,
}

enum Data<'a> {
    Cert(Box<CertUpdate<'a>>),
    Names(Vec<Cow<'a, str>>),
    Other,
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Envelope<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a certstream message object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut env = Envelope {
                    message_type: None,
                    data: None,
                    seq: None,
                };
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        "message_type" => {
                            env.message_type = Some(map.next_value::<BorrowedCow>()?.0)
                        }
                        // When the type is known and is not one with data, skip the data
                        // whatever its shape. When data comes first, it is read by its shape.
                        "data"
                            if env.message_type.as_deref().is_some_and(|t| {
                                t != "certificate_update" && t != "dns_entries"
                            }) =>
                        {
                            map.next_value::<IgnoredAny>()?;
                        }
                        "data" => env.data = Some(map.next_value::<Data>()?),
                        "seq" => env.seq = Some(map.next_value::<u64>()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(env)
            }
        }
        d.deserialize_map(V)
    }
}

/// The `message_type` of a frame, reading nothing else; `None` if the frame is not an object
/// with a string `message_type`.
fn peek_type(text: &str) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct TypeOnly<'a> {
        #[serde(borrow, default, deserialize_with = "opt_str")]
        message_type: Option<Cow<'a, str>>,
    }
    serde_json::from_str::<TypeOnly>(text).ok()?.message_type
}

fn opt_str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    Option::<BorrowedCow>::deserialize(d).map(|o| o.map(|c| c.0))
}

fn str_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of names")
        }
        fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
            let mut names = Vec::with_capacity(seq.size_hint().unwrap_or(4));
            while let Some(n) = seq.next_element::<BorrowedCow>()? {
                names.push(n.0);
            }
            Ok(names)
        }
    }
    d.deserialize_seq(V)
}

/// A `Cow<str>` that borrows when it can (plain `Cow` deserialisation always copies).
struct BorrowedCow<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for BorrowedCow<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct W<'a>(#[serde(borrow)] Cow<'a, str>);
        W::deserialize(d).map(|w| BorrowedCow(w.0))
    }
}

impl<'de> Deserialize<'de> for Data<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Data<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("certificate data (object) or a list of names")
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
                CertUpdate::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|c| Data::Cert(Box::new(c)))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<Self::Value, S::Error> {
                str_vec(de::value::SeqAccessDeserializer::new(seq)).map(Data::Names)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Data::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Data::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Data::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Data::Other)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Data::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Data::Other)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALIDOG: &str = include_str!("../../tests/fixtures/certstream/calidog_message.json");

    #[test]
    fn real_calidog_message_with_data_before_type() {
        let Message::Certificate(c) = parse(CALIDOG).unwrap() else {
            panic!("not a certificate")
        };
        assert_eq!(c.leaf_cert.all_domains, vec!["cebit.hannover-verkehr.de"]);
        assert_eq!(c.cert_index, Some(328350759));
        assert_eq!(c.update_type.as_deref(), Some("X509LogEntry"));
        assert_eq!(
            c.leaf_cert.issuer.as_ref().unwrap().display(),
            Some("/C=US/CN=R3/O=Let's Encrypt")
        );
        assert_eq!(
            c.source.as_ref().unwrap().name.as_deref(),
            Some("Google 'Xenon2021' log")
        );
        // Strings without escapes are borrowed, not copied.
        assert!(matches!(c.leaf_cert.all_domains[0], Cow::Borrowed(_)));
        assert!(matches!(c.cert_link, Some(Cow::Borrowed(_))));
        let issuer = c.leaf_cert.issuer.as_ref().unwrap();
        assert!(matches!(issuer.aggregated, Some(Cow::Borrowed(_))));
    }

    #[test]
    fn domains_only_and_heartbeat() {
        let m = parse(r#"{"message_type":"dns_entries","data":["a.example","*.b.example"]}"#);
        let Ok(Message::Domains(d)) = m else {
            panic!("{m:?}")
        };
        assert_eq!(d, vec!["a.example", "*.b.example"]);
        assert!(matches!(
            parse(r#"{"message_type":"heartbeat","timestamp":1.5}"#),
            Ok(Message::Heartbeat)
        ));
        assert!(matches!(
            parse(r#"{"message_type":"news","data":{}}"#),
            Ok(Message::Unknown(_))
        ));
        // Unknown type with data first, in a shape the known types do not have.
        let m = parse(r#"{"data":{"cert_index":2},"message_type":"certificate_revoked"}"#);
        assert!(
            matches!(m, Ok(Message::Unknown(ref k)) if k == "certificate_revoked"),
            "{m:?}"
        );
    }

    #[test]
    fn seq_is_read_when_present() {
        let (m, seq) =
            parse_with_seq(r#"{"seq":42,"message_type":"dns_entries","data":["a.example"]}"#)
                .unwrap();
        assert!(matches!(m, Message::Domains(_)));
        assert_eq!(seq, Some(42));
        assert_eq!(parse_with_seq(CALIDOG).unwrap().1, None);
    }

    #[test]
    fn escapes_are_decoded() {
        let m = parse(r#"{"message_type":"dns_entries","data":["a\u002eexample"]}"#).unwrap();
        let Message::Domains(d) = m else { panic!() };
        assert_eq!(d[0], "a.example");
    }

    #[test]
    fn bad_messages_are_errors_not_panics() {
        for bad in [
            "",
            "not json",
            "[]",
            "{}",
            r#"{"data":["a.example"]}"#,
            r#"{"message_type":"certificate_update"}"#,
            r#"{"message_type":"certificate_update","data":{"cert_index":1}}"#,
            r#"{"message_type":"certificate_update","data":{"leaf_cert":{"all_domains":"x"}}}"#,
            r#"{"message_type":"certificate_update","data":{"leaf_cert":{"all_domains":[]},"cert_index":"7"}}"#,
            r#"{"message_type":"dns_entries","data":"a.example"}"#,
            r#"{"message_type":"dns_entries","data":[1,2]}"#,
            r#"{"message_type":"dns_entries","data":["a"]} trailing"#,
            r#"{"message_type":7}"#,
        ] {
            assert!(parse(bad).is_err(), "accepted: {bad}");
        }
    }
}
