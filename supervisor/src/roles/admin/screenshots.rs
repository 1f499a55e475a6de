//! The page's screenshots: fetched from urlscan by this process and served from memory.
//!
//! Why a proxy: the analyst's browser then talks only to certhound (the page's CSP allows images
//! from itself alone), urlscan sees one fetch per scan however often the page is opened, and a
//! page of fifty thumbnails does not make fifty requests to urlscan at once ([`MAX_FETCHES`]).
//!
//! What is fetched is never a URL taken from a stored finding: it is
//! `<urlscan.base_url>/screenshots/<uuid>.png` built from the scan's uuid (hex and dashes only),
//! so nothing that came from the feed or from an answer can point this process elsewhere. An
//! answer must be 200 with an image content type and at most `admin.page.screenshot_max_bytes`
//! (read in chunks, abandoned past the limit); the cache keeps at most
//! `admin.page.screenshot_cache_bytes`, least recently shown dropped first. Failures are not
//! cached: a scan whose screenshot is not there yet is asked again at the next view.

use lru::LruCache;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Screenshots fetched from urlscan at the same time, at most.
const MAX_FETCHES: usize = 4;

/// A screenshot: its content type and bytes.
#[derive(Clone)]
pub struct Image {
    pub content_type: &'static str,
    pub bytes: Arc<Vec<u8>>,
}

/// Why there is no screenshot to show.
#[derive(Debug, PartialEq, Eq)]
pub enum Missing {
    /// urlscan has none (yet): 404.
    NotThere,
    /// urlscan cannot be reached or answered something unusable: 502, with why.
    Upstream(String),
}

pub struct Screenshots {
    base: String,
    client: reqwest::Client,
    max_bytes: usize,
    budget: usize,
    cache: Mutex<(LruCache<String, Image>, usize)>,
    fetches: Semaphore,
}

impl Screenshots {
    pub fn new(
        urlscan_base: &str,
        timeout: Duration,
        max_bytes: usize,
        budget: usize,
    ) -> Result<Screenshots, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("certhound/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Screenshots {
            base: urlscan_base.trim_end_matches('/').to_string(),
            client,
            max_bytes,
            budget,
            cache: Mutex::new((LruCache::unbounded(), 0)),
            fetches: Semaphore::new(MAX_FETCHES),
        })
    }

    /// The screenshot of scan `uuid`, from the cache or from urlscan.
    pub async fn get(&self, uuid: &str) -> Result<Image, Missing> {
        if uuid.is_empty()
            || uuid.len() > 64
            || !uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        {
            return Err(Missing::NotThere);
        }
        if let Some(img) = self.cached(uuid) {
            return Ok(img);
        }
        let _permit = self
            .fetches
            .acquire()
            .await
            .map_err(|_| Missing::Upstream("closing".into()))?;
        // Another request may have fetched it while this one waited.
        if let Some(img) = self.cached(uuid) {
            return Ok(img);
        }
        let img = self.fetch(uuid).await?;
        self.insert(uuid, img.clone());
        Ok(img)
    }

    fn cached(&self, uuid: &str) -> Option<Image> {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        c.0.get(uuid).cloned()
    }

    fn insert(&self, uuid: &str, img: Image) {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (cache, bytes) = &mut *c;
        *bytes += img.bytes.len();
        if let Some(old) = cache.put(uuid.to_string(), img) {
            *bytes -= old.bytes.len();
        }
        while *bytes > self.budget {
            match cache.pop_lru() {
                Some((_, old)) => *bytes -= old.bytes.len(),
                None => break,
            }
        }
    }

    /// Bytes held, for tests.
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        let c = self.cache.lock().unwrap();
        (c.0.len(), c.1)
    }

    async fn fetch(&self, uuid: &str) -> Result<Image, Missing> {
        let url = format!("{}/screenshots/{uuid}.png", self.base);
        let mut resp = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| Missing::Upstream(format!("urlscan: {}", e.without_url())))?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(Missing::NotThere),
            s => return Err(Missing::Upstream(format!("urlscan answered {s}"))),
        }
        let content_type = match resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
        {
            t if t.starts_with("image/png") => "image/png",
            t if t.starts_with("image/jpeg") => "image/jpeg",
            t if t.starts_with("image/webp") => "image/webp",
            other => {
                return Err(Missing::Upstream(format!(
                    "urlscan answered {} instead of an image",
                    other.chars().take(40).collect::<String>()
                )))
            }
        };
        if resp
            .content_length()
            .is_some_and(|n| n as usize > self.max_bytes)
        {
            return Err(Missing::Upstream(format!(
                "screenshot larger than admin.page.screenshot_max_bytes ({})",
                self.max_bytes
            )));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| Missing::Upstream(format!("urlscan: {}", e.without_url())))?
        {
            if bytes.len() + chunk.len() > self.max_bytes {
                return Err(Missing::Upstream(format!(
                    "screenshot larger than admin.page.screenshot_max_bytes ({})",
                    self.max_bytes
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Image {
            content_type,
            bytes: Arc::new(bytes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(n: usize) -> Image {
        Image {
            content_type: "image/png",
            bytes: Arc::new(vec![0; n]),
        }
    }

    #[test]
    fn the_cache_keeps_its_byte_budget_dropping_the_least_recent() {
        let s = Screenshots::new("http://127.0.0.1:1", Duration::from_secs(1), 100, 250).unwrap();
        s.insert("a", image(100));
        s.insert("b", image(100));
        assert!(s.cached("a").is_some()); // a is now the most recent
        s.insert("c", image(100));
        assert_eq!(s.held(), (2, 200));
        assert!(s.cached("b").is_none());
        assert!(s.cached("a").is_some() && s.cached("c").is_some());
    }

    #[tokio::test]
    async fn ids_that_are_not_uuids_are_never_fetched() {
        // Port 1 refuses: a fetch would be an Upstream error, not NotThere.
        let s = Screenshots::new("http://127.0.0.1:1", Duration::from_secs(1), 100, 250).unwrap();
        for bad in ["", "../x", "a/b", "http://evil", "x?y"] {
            assert_eq!(s.get(bad).await.err(), Some(Missing::NotThere), "{bad}");
        }
        assert!(matches!(s.get("0a-1b").await, Err(Missing::Upstream(_))));
    }
}
