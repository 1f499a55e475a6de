//! The one place values are encoded for the store: bincode 2 (pinned at `=2.0.1`; 3.0.0 is a
//! deliberate compile error) behind a leading format byte, so that the encoding can change later
//! without misreading old files: a value of another format is an error, never garbage.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Bumped whenever a stored type or the encoding changes incompatibly.
pub const FORMAT: u8 = 4;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("empty value")]
    Empty,
    #[error("value in format {found}, this certhound reads format {FORMAT}")]
    Format { found: u8 },
    #[error("cannot decode value: {0}")]
    Decode(String),
    #[error("cannot encode value: {0}")]
    Encode(String),
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![FORMAT];
    bincode::serde::encode_into_std_write(value, &mut out, config())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(out)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    match bytes.split_first() {
        None => Err(CodecError::Empty),
        Some((&FORMAT, rest)) => bincode::serde::decode_from_slice(rest, config())
            .map(|(v, _)| v)
            .map_err(|e| CodecError::Decode(e.to_string())),
        Some((&found, _)) => Err(CodecError::Format { found }),
    }
}

/// Decodes a value of an older `format` (for the store's migration only).
pub fn decode_format<T: DeserializeOwned>(bytes: &[u8], format: u8) -> Result<T, CodecError> {
    match bytes.split_first() {
        None => Err(CodecError::Empty),
        Some((&f, rest)) if f == format => bincode::serde::decode_from_slice(rest, config())
            .map(|(v, _)| v)
            .map_err(|e| CodecError::Decode(e.to_string())),
        Some((&found, _)) => Err(CodecError::Format { found }),
    }
}

/// A value of an older `format` whose type did not change, in the current format.
pub fn reformat(bytes: &[u8], format: u8) -> Result<Vec<u8>, CodecError> {
    match bytes.split_first() {
        None => Err(CodecError::Empty),
        Some((&f, rest)) if f == format => {
            let mut out = Vec::with_capacity(bytes.len());
            out.push(FORMAT);
            out.extend_from_slice(rest);
            Ok(out)
        }
        Some((&found, _)) => Err(CodecError::Format { found }),
    }
}

/// Encodes in an older `format`: for the migration tests, which need old stores.
#[cfg(test)]
pub fn encode_format<T: Serialize>(value: &T, format: u8) -> Result<Vec<u8>, CodecError> {
    let mut out = encode(value)?;
    out[0] = format;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct T {
        a: u64,
        b: Option<String>,
        c: Vec<f64>,
    }

    #[test]
    fn round_trip_and_versioning() {
        let t = T {
            a: 7,
            b: Some("x".into()),
            c: vec![1.5],
        };
        let bytes = encode(&t).unwrap();
        assert_eq!(bytes[0], FORMAT);
        assert_eq!(decode::<T>(&bytes).unwrap(), t);
        let mut other = bytes.clone();
        other[0] = FORMAT + 1;
        assert!(matches!(
            decode::<T>(&other),
            Err(CodecError::Format { .. })
        ));
        assert!(decode::<T>(&bytes[..bytes.len() - 1]).is_err());
        assert!(matches!(decode::<T>(&[]), Err(CodecError::Empty)));
    }
}
