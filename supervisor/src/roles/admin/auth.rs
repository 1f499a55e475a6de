//! Who may use the analyst page, and proof that a verdict was posted from it.
//!
//! **Access.** On loopback (the default `admin.listen`) anyone who can connect is on this
//! machine: no token. Beyond loopback the page and its API ask for `admin.token`, as
//! `Authorization: Bearer <token>` (scripts) or as the password of HTTP basic auth with any user
//! name (a browser's own prompt; the name is recorded with the verdicts). Without a configured
//! token beyond loopback every page request is refused: a page with verdict buttons is never
//! open to a network by accident. `/metrics` and the health checks stay open as before (a
//! scraper and the ECS health check have no token). Tokens are compared as SHA-256 digests in
//! constant time, and never logged.
//!
//! **CSRF.** A browser that is logged in (basic auth, or simply on loopback) would send a form
//! that another site made it post. Every form of the page carries a token that only a page of
//! this listener can know: `<issued unix time>.<HMAC-SHA256(key, issued time)>`, valid for
//! [`CSRF_VALID`]. Another origin cannot read the page (same-origin policy, and no CORS
//! headers are ever sent), so it cannot get a token. The key is derived from `admin.token` when
//! one is set (so that two tasks behind one load balancer accept each other's forms) and random
//! per process otherwise (a restart then asks for a reload of the page). A POST whose `Origin`
//! or `Sec-Fetch-Site` says it came from another site is refused before the token is looked at.

use super::http::Request;
use certhound_config::SharedSecret;
use ring::hmac;
use std::time::Duration;

/// How long a form's CSRF token is accepted.
pub const CSRF_VALID: Duration = Duration::from_secs(12 * 3600);

/// The page's access rule and its CSRF key.
pub struct Guard {
    /// The page listens beyond loopback: ask for the token.
    needs_token: bool,
    token: Option<SharedSecret>,
    /// Used when there is no token to derive the key from.
    random_key: hmac::Key,
}

/// Who is asking, as recorded with a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

/// Why a request is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// No or wrong credentials: 401 with a basic-auth challenge.
    Unauthorized(&'static str),
    /// A POST without a valid CSRF token or from another site: 403.
    Forbidden(&'static str),
}

impl Guard {
    pub fn new(needs_token: bool, token: Option<SharedSecret>) -> Guard {
        let rng = ring::rand::SystemRandom::new();
        let random_key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, &rand::random::<[u8; 32]>()));
        Guard {
            needs_token,
            token,
            random_key,
        }
    }

    /// Whether the page asks for a token and has none to compare with: it refuses everyone.
    pub fn locked(&self) -> bool {
        self.needs_token && self.token.is_none()
    }

    /// Checks the caller's credentials; `Ok` names the caller.
    pub fn check(&self, req: &Request) -> Result<Caller, Refused> {
        if !self.needs_token {
            return Ok(Caller(basic_user(req).unwrap_or_else(|| "page".into())));
        }
        let Some(token) = &self.token else {
            return Err(Refused::Unauthorized(
                "admin.listen is beyond loopback and no admin.token is set: the page is closed\n",
            ));
        };
        let expected = token.get();
        let given = req.header("authorization").unwrap_or("").trim();
        let (caller, candidate) = if let Some(b) = given.strip_prefix("Bearer ") {
            ("token".to_string(), b.trim().to_string())
        } else if let Some((user, pass)) = basic(given) {
            (
                if user.is_empty() {
                    "token".into()
                } else {
                    user
                },
                pass,
            )
        } else {
            return Err(Refused::Unauthorized("authentication required\n"));
        };
        if same(candidate.as_bytes(), expected.expose().as_bytes()) {
            Ok(Caller(caller.chars().take(64).collect()))
        } else {
            Err(Refused::Unauthorized("wrong token\n"))
        }
    }

    fn key(&self) -> hmac::Key {
        match &self.token {
            Some(t) => {
                let material = ring::digest::digest(
                    &ring::digest::SHA256,
                    format!("certhound admin csrf\0{}", t.get().expose()).as_bytes(),
                );
                hmac::Key::new(hmac::HMAC_SHA256, material.as_ref())
            }
            None => self.random_key.clone(),
        }
    }

    /// A token for the forms of a page rendered at `now` (Unix seconds).
    pub fn csrf_token(&self, now: u64) -> String {
        let tag = hmac::sign(&self.key(), now.to_string().as_bytes());
        format!("{now}.{}", hex(tag.as_ref()))
    }

    /// Checks a form POST: from this site, with a valid token issued within [`CSRF_VALID`].
    pub fn check_post(&self, req: &Request, token: Option<&str>, now: u64) -> Result<(), Refused> {
        if let Some(site) = req.header("sec-fetch-site") {
            if site != "same-origin" && site != "none" {
                return Err(Refused::Forbidden("cross-site form posts are refused\n"));
            }
        }
        if let (Some(origin), Some(host)) = (req.header("origin"), req.header("host")) {
            let ok = origin
                .split_once("://")
                .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host));
            if origin != "null" && !ok {
                return Err(Refused::Forbidden("the form came from another origin\n"));
            }
        }
        let Some((issued, tag)) = token.and_then(|t| t.split_once('.')) else {
            return Err(Refused::Forbidden(
                "missing CSRF token: reload the page and try again\n",
            ));
        };
        let (Ok(at), Some(tag)) = (issued.parse::<u64>(), unhex(tag)) else {
            return Err(Refused::Forbidden("malformed CSRF token\n"));
        };
        if hmac::verify(&self.key(), issued.as_bytes(), &tag).is_err() {
            return Err(Refused::Forbidden(
                "invalid CSRF token (the page is older than a restart?): reload the page\n",
            ));
        }
        if now.saturating_sub(at) > CSRF_VALID.as_secs() || at > now + 60 {
            return Err(Refused::Forbidden("expired CSRF token: reload the page\n"));
        }
        Ok(())
    }
}

/// The user and password of a basic-auth header.
fn basic(header: &str) -> Option<(String, String)> {
    use base64::Engine;
    let b64 = header.strip_prefix("Basic ")?.trim();
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn basic_user(req: &Request) -> Option<String> {
    basic(req.header("authorization")?)
        .map(|(u, _)| u.chars().take(64).collect::<String>())
        .filter(|u| !u.is_empty())
}

/// Equal, in time that does not depend on where they differ: compares SHA-256 digests.
fn same(a: &[u8], b: &[u8]) -> bool {
    let da = ring::digest::digest(&ring::digest::SHA256, a);
    let db = ring::digest::digest(&ring::digest::SHA256, b);
    da.as_ref()
        .iter()
        .zip(db.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 128 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use certhound_config::Secret;

    fn req(headers: &[(&str, &str)]) -> Request {
        let mut r = Request::default();
        for (k, v) in headers {
            r.headers.insert(k.to_string(), v.to_string());
        }
        r
    }

    fn token() -> Option<SharedSecret> {
        Some(SharedSecret::new(Secret::new("s3cret-token-0123456789")))
    }

    #[test]
    fn loopback_needs_nothing_beyond_it_the_token() {
        assert_eq!(
            Guard::new(false, None).check(&req(&[])),
            Ok(Caller("page".into()))
        );
        let closed = Guard::new(true, None);
        assert!(closed.locked());
        assert!(matches!(
            closed.check(&req(&[])),
            Err(Refused::Unauthorized(_))
        ));
        let g = Guard::new(true, token());
        assert!(matches!(g.check(&req(&[])), Err(Refused::Unauthorized(_))));
        assert!(matches!(
            g.check(&req(&[("authorization", "Bearer nope")])),
            Err(Refused::Unauthorized(_))
        ));
        assert_eq!(
            g.check(&req(&[("authorization", "Bearer s3cret-token-0123456789")])),
            Ok(Caller("token".into()))
        );
        // "alice:s3cret-token-0123456789"
        assert_eq!(
            g.check(&req(&[(
                "authorization",
                "Basic YWxpY2U6czNjcmV0LXRva2VuLTAxMjM0NTY3ODk="
            )])),
            Ok(Caller("alice".into()))
        );
    }

    #[test]
    fn csrf_tokens_are_checked_for_key_age_and_origin() {
        let g = Guard::new(false, None);
        let t = g.csrf_token(1_000_000);
        let plain = req(&[("host", "127.0.0.1:9464")]);
        assert_eq!(g.check_post(&plain, Some(&t), 1_000_100), Ok(()));
        assert!(g.check_post(&plain, None, 1_000_100).is_err());
        assert!(g.check_post(&plain, Some("1000000.00"), 1_000_100).is_err());
        let late = 1_000_000 + CSRF_VALID.as_secs() + 1;
        assert!(g.check_post(&plain, Some(&t), late).is_err());
        // Another process's key.
        assert!(Guard::new(false, None)
            .check_post(&plain, Some(&t), 1_000_100)
            .is_err());
        let cross = req(&[
            ("host", "127.0.0.1:9464"),
            ("origin", "https://evil.example"),
        ]);
        assert!(g.check_post(&cross, Some(&t), 1_000_100).is_err());
        let same = req(&[
            ("host", "127.0.0.1:9464"),
            ("origin", "http://127.0.0.1:9464"),
        ]);
        assert_eq!(g.check_post(&same, Some(&t), 1_000_100), Ok(()));
        let site = req(&[("sec-fetch-site", "cross-site")]);
        assert!(g.check_post(&site, Some(&t), 1_000_100).is_err());
        // Two processes with the same admin token accept each other's forms.
        let (a, b) = (Guard::new(true, token()), Guard::new(true, token()));
        assert_eq!(b.check_post(&plain, Some(&a.csrf_token(5)), 6), Ok(()));
    }
}
