//! The static-ct-api (C2SP) tile formats: tile paths (tlog-tiles), which data tiles cover a
//! range of entries, and the `TileLeaf` encoding of data tiles.
//!
//! A data tile holds up to [`TILE_WIDTH`] consecutive entries. A full tile is at
//! `tile/data/<N>`, the last, incomplete tile of a tree at `tile/data/<N>.p/<W>` where `W` is
//! the number of entries it holds (1..=255). `N` is written in 3-digit, zero-padded segments,
//! all but the last prefixed with `x`: 1234067 is `x001/x234/067`.

use std::io::Read;

use super::{DecodeError, EntryKind};

/// Entries (or hashes) per full tile.
pub const TILE_WIDTH: u64 = 256;

/// Gzip's magic bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The `x001/x234/067` form of a tile index.
pub fn encode_tile_index(n: u64) -> String {
    let mut groups = Vec::new();
    let mut rest = n;
    loop {
        groups.push(rest % 1000);
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    let last = groups.len() - 1;
    groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i == last {
                format!("{g:03}")
            } else {
                format!("x{g:03}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn with_width(mut path: String, partial_width: Option<u16>) -> String {
    if let Some(w) = partial_width {
        path.push_str(&format!(".p/{w}"));
    }
    path
}

/// The path of data tile `n`, relative to the log's monitoring prefix: `tile/data/x001/x234/067`,
/// or `tile/data/x001/x234/067.p/<W>` for a partial tile of `W` entries.
pub fn data_tile_path(n: u64, partial_width: Option<u16>) -> String {
    with_width(format!("tile/data/{}", encode_tile_index(n)), partial_width)
}

/// The path of hash tile `n` at `level`: `tile/<L>/<N>[.p/<W>]`.
pub fn hash_tile_path(level: u8, n: u64, partial_width: Option<u16>) -> String {
    with_width(
        format!("tile/{level}/{}", encode_tile_index(n)),
        partial_width,
    )
}

/// The data tiles that hold entries `[start, tree_size)` of a tree of `tree_size` entries, in
/// order: `(tile index, None)` for full tiles, `(index, Some(width))` for the tree's last,
/// partial tile. Empty if `start >= tree_size`. Lazy: a log read from its start has millions.
pub fn tiles_for(start: u64, tree_size: u64) -> impl Iterator<Item = (u64, Option<u16>)> {
    let first = start / TILE_WIDTH;
    let full = tree_size / TILE_WIDTH;
    let partial = (tree_size % TILE_WIDTH) as u16;
    let last = (start < tree_size && partial > 0).then_some((full, Some(partial)));
    let full_tiles = if start < tree_size { first..full } else { 0..0 };
    full_tiles.map(|n| (n, None)).chain(last)
}

/// One entry of a data tile, borrowing the tile's bytes.
///
/// `leaf` is the certificate certstream describes as the leaf: the X.509 certificate for
/// `X509`, the `pre_certificate` (with its poison extension) for `Precert`.
/// `chain_fingerprints` are the SHA-256 of the issuing chain's certificates, leaf's issuer
/// first; the certificates themselves are at `issuer/<hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileLeaf<'a> {
    pub kind: EntryKind,
    pub timestamp_ms: u64,
    pub leaf: &'a [u8],
    pub chain_fingerprints: Vec<[u8; 32]>,
}

/// A bounds-checked reader of TLS presentation-language structures.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated(what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn uint(&mut self, bytes: usize, what: &'static str) -> Result<u64, DecodeError> {
        Ok(self
            .take(bytes, what)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// A vector with a `len_bytes`-byte length prefix.
    fn vec(&mut self, len_bytes: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.uint(len_bytes, what)? as usize;
        self.take(len, what)
    }

    fn fingerprints(&mut self, what: &'static str) -> Result<Vec<[u8; 32]>, DecodeError> {
        let list = self.vec(2, what)?;
        if list.len() % 32 != 0 {
            return Err(DecodeError::Truncated(what));
        }
        Ok(list
            .chunks_exact(32)
            .map(|c| {
                let mut f = [0u8; 32];
                f.copy_from_slice(c);
                f
            })
            .collect())
    }
}

/// Decodes every `TileLeaf` of a data tile (already decompressed, see [`maybe_gunzip`]).
///
/// A `TileLeaf` is a `TimestampedEntry` (timestamp u64, entry type u16, then the certificate
/// (u24) or the precert's `issuer_key_hash[32]` and TBS (u24), then extensions (u16)) followed,
/// for a precert, by the `pre_certificate` (u24), then the chain's fingerprints (u16 length).
pub fn parse_data_tile(bytes: &[u8]) -> Result<Vec<TileLeaf<'_>>, DecodeError> {
    let mut r = Reader { buf: bytes };
    let mut leaves = Vec::new();
    while !r.buf.is_empty() {
        let timestamp_ms = r.uint(8, "tile leaf timestamp")?;
        let entry_type = r.uint(2, "tile leaf entry type")?;
        let leaf = match entry_type {
            0 => {
                let cert = r.vec(3, "tile leaf certificate")?;
                r.vec(2, "tile leaf extensions")?;
                let chain_fingerprints = r.fingerprints("tile leaf certificate chain")?;
                TileLeaf {
                    kind: EntryKind::X509,
                    timestamp_ms,
                    leaf: cert,
                    chain_fingerprints,
                }
            }
            1 => {
                r.take(32, "tile leaf issuer key hash")?;
                r.vec(3, "tile leaf tbs certificate")?;
                r.vec(2, "tile leaf extensions")?;
                let pre_certificate = r.vec(3, "tile leaf pre-certificate")?;
                let chain_fingerprints = r.fingerprints("tile leaf precertificate chain")?;
                TileLeaf {
                    kind: EntryKind::Precert,
                    timestamp_ms,
                    leaf: pre_certificate,
                    chain_fingerprints,
                }
            }
            other => {
                return Err(DecodeError::Unknown {
                    what: "tile leaf entry type",
                    value: other,
                })
            }
        };
        if leaf.leaf.is_empty() {
            return Err(DecodeError::Certificate("empty certificate".into()));
        }
        leaves.push(leaf);
    }
    Ok(leaves)
}

/// Why a body could not be decompressed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GunzipError {
    #[error("gzip body larger than {0} bytes")]
    TooLarge(usize),
    #[error("bad gzip body: {0}")]
    Corrupt(String),
}

/// Tiles may be served gzip-compressed whatever the request said: if `bytes` starts with gzip's
/// magic, decompresses it (at most `limit` bytes out); otherwise returns it unchanged.
pub fn maybe_gunzip(bytes: Vec<u8>, limit: usize) -> Result<Vec<u8>, GunzipError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    let mut decoder = flate2::read::MultiGzDecoder::new(&bytes[..]).take(limit as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| GunzipError::Corrupt(e.to_string()))?;
    if out.len() > limit {
        return Err(GunzipError::TooLarge(limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn tile_paths_follow_tlog_tiles() {
        // Examples of tlog-tiles: `x001/x234/067` is 1234067; `tile/data/x001/x234/067.p/8`.
        assert_eq!(encode_tile_index(1234067), "x001/x234/067");
        assert_eq!(encode_tile_index(0), "000");
        assert_eq!(encode_tile_index(67), "067");
        assert_eq!(encode_tile_index(1000), "x001/000");
        assert_eq!(data_tile_path(1234067, None), "tile/data/x001/x234/067");
        assert_eq!(
            data_tile_path(1234067, Some(8)),
            "tile/data/x001/x234/067.p/8"
        );
        assert_eq!(hash_tile_path(0, 1234067, None), "tile/0/x001/x234/067");
        assert_eq!(hash_tile_path(1, 5, Some(255)), "tile/1/005.p/255");
    }

    #[test]
    fn tiles_for_ranges() {
        assert_eq!(tiles_for(0, 0).collect::<Vec<_>>(), vec![]);
        assert_eq!(tiles_for(5, 5).collect::<Vec<_>>(), vec![]);
        assert_eq!(tiles_for(0, 1).collect::<Vec<_>>(), vec![(0, Some(1))]);
        assert_eq!(tiles_for(0, 256).collect::<Vec<_>>(), vec![(0, None)]);
        assert_eq!(
            tiles_for(255, 257).collect::<Vec<_>>(),
            vec![(0, None), (1, Some(1))]
        );
        assert_eq!(tiles_for(256, 257).collect::<Vec<_>>(), vec![(1, Some(1))]);
        assert_eq!(
            tiles_for(300, 1000).collect::<Vec<_>>(),
            vec![(1, None), (2, None), (3, Some(232))]
        );
    }

    fn u24(v: &mut Vec<u8>, data: &[u8]) {
        v.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(data);
    }

    fn sample_tile() -> Vec<u8> {
        let mut t = Vec::new();
        // x509 entry
        t.extend_from_slice(&1_700_000_000_000u64.to_be_bytes());
        t.extend_from_slice(&0u16.to_be_bytes());
        u24(&mut t, b"CERT");
        t.extend_from_slice(&[0, 0]);
        t.extend_from_slice(&64u16.to_be_bytes());
        t.extend_from_slice(&[1u8; 32]);
        t.extend_from_slice(&[2u8; 32]);
        // precert entry
        t.extend_from_slice(&1_700_000_000_001u64.to_be_bytes());
        t.extend_from_slice(&1u16.to_be_bytes());
        t.extend_from_slice(&[9u8; 32]);
        u24(&mut t, b"TBS");
        t.extend_from_slice(&[0, 8, 0, 0, 5, 0, 0, 0, 0, 7]);
        u24(&mut t, b"PRECERT");
        t.extend_from_slice(&32u16.to_be_bytes());
        t.extend_from_slice(&[3u8; 32]);
        t
    }

    #[test]
    fn parses_both_kinds() {
        let t = sample_tile();
        let leaves = parse_data_tile(&t).unwrap();
        assert_eq!(leaves.len(), 2);
        assert_eq!(leaves[0].kind, EntryKind::X509);
        assert_eq!(leaves[0].leaf, b"CERT");
        assert_eq!(leaves[0].timestamp_ms, 1_700_000_000_000);
        assert_eq!(leaves[0].chain_fingerprints, vec![[1u8; 32], [2u8; 32]]);
        assert_eq!(leaves[1].kind, EntryKind::Precert);
        assert_eq!(leaves[1].leaf, b"PRECERT");
        assert_eq!(leaves[1].chain_fingerprints, vec![[3u8; 32]]);
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        let t = sample_tile();
        for cut in 0..t.len() {
            // Every strict prefix either parses fewer leaves exactly at a boundary or fails.
            let r = parse_data_tile(&t[..cut]);
            if let Ok(leaves) = r {
                assert!(leaves.len() < 2);
            }
        }
        assert!(matches!(
            parse_data_tile(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 7]),
            Err(DecodeError::Unknown { .. })
        ));
        let mut x = 0x1234_5678u32;
        for _ in 0..2000 {
            let mut buf = Vec::new();
            for _ in 0..(x % 200) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf.push(x as u8);
            }
            let _ = parse_data_tile(&buf);
        }
    }

    #[test]
    fn gunzip_only_when_gzip() {
        let plain = sample_tile();
        assert_eq!(maybe_gunzip(plain.clone(), 1 << 20).unwrap(), plain);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&plain).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(maybe_gunzip(gz.clone(), 1 << 20).unwrap(), plain);
        assert_eq!(maybe_gunzip(gz, 10), Err(GunzipError::TooLarge(10)));
        assert!(matches!(
            maybe_gunzip(vec![0x1f, 0x8b, 1, 2, 3], 100),
            Err(GunzipError::Corrupt(_))
        ));
    }
}
