//! The analyst page and its JSON API (`[admin.page]`): the routes, each reading the store on a
//! blocking thread (a DynamoDB scan or a redb read must not hold the listener's thread).
//!
//! - `GET /findings` (and `/`): the list, newest first, with the filters of `filter.rs`;
//!   `GET /findings/<id>`: one finding in full; `GET /precision`: the figures of `stats.rs`;
//!   `GET /screenshots/<id>`: the finding's urlscan screenshot (`screenshots.rs`);
//! - `POST /findings/<id>/verdict` (`verdict`, `csrf`, `return`): records a verdict;
//!   `POST /findings/<id>/allowlist` (`csrf`): records "false alarm" and appends the registrable
//!   domain to `matcher.allowlist_file` (`allowlist.rs`). Both only with `admin.page.writable`,
//!   both answer `303` back to the page, so a reload does not post again;
//! - `GET /api/findings` (same filters, JSON), `/api/findings/<id>`, `/api/precision`.
//!
//! Who may use it and the forms' CSRF tokens: `auth.rs`.

use super::allowlist::{AllowlistFile, Appended};
use super::auth::{Caller, Guard, Refused};
use super::filter::{Filter, SINCE};
use super::http::{Request, Response};
use super::screenshots::{Missing, Screenshots};
use super::stats::{self, Stats};
use super::view::{self, Chrome, DetailPage, ListPage, PrecisionPage, Row, CHOICES};
use askama::Template;
use certhound_actors::store::{unix_now, Record, Store, StoreError, Verdict, VerdictKind};
use certhound_config::{Config, SharedSecret};
use std::sync::Mutex;
use std::time::Duration;

const CSS: &str = include_str!("../../../templates/page.css");

/// The page's state: the store it reads, its settings, the cached figures.
pub struct Page {
    store: Store,
    writable: bool,
    page_size: usize,
    stats_interval: Duration,
    guard: Guard,
    screenshots: Screenshots,
    allowlist: AllowlistFile,
    /// The last figures computed, `None` when a verdict made them stale.
    stats: Mutex<Option<Stats>>,
}

impl Page {
    /// The page of the watch role, or `None` when `admin.page.enabled` is off.
    pub fn new(
        cfg: &Config,
        store: Store,
        token: Option<SharedSecret>,
    ) -> Result<Option<Page>, String> {
        let p = &cfg.admin.page;
        if !p.enabled {
            return Ok(None);
        }
        let guard = Guard::new(cfg.admin.page_needs_token(), token);
        if guard.locked() {
            tracing::warn!(
                listen = %cfg.admin.listen,
                "admin.listen is beyond loopback and admin.token is not set: the analyst page answers 401 to every request"
            );
        }
        Ok(Some(Page {
            store,
            writable: p.writable,
            page_size: p.page_size,
            stats_interval: p.stats_interval,
            guard,
            screenshots: Screenshots::new(
                &cfg.urlscan.base_url,
                p.screenshot_timeout,
                p.screenshot_max_bytes,
                p.screenshot_cache_bytes,
            )?,
            allowlist: AllowlistFile::new(&cfg.matcher.allowlist_file),
            stats: Mutex::new(None),
        }))
    }

    /// Answers `req` if it is one of the page's routes; `None` leaves it to the other routes.
    pub async fn route(&self, req: &Request) -> Option<Response> {
        let path = req.path.as_str();
        let ours = path == "/"
            || path == "/findings"
            || path.starts_with("/findings/")
            || path == "/precision"
            || path.starts_with("/screenshots/")
            || path.starts_with("/api/")
            || path == "/static/page.css";
        if !ours {
            return None;
        }
        let caller = match self.guard.check(req) {
            Ok(c) => c,
            Err(r) => return Some(refused(r)),
        };
        let get = matches!(req.method.as_str(), "GET" | "HEAD");
        let resp = match (get, path) {
            (true, "/static/page.css") => Response::new(200, "text/css; charset=utf-8", CSS)
                .with("Cache-Control", "max-age=300"),
            (true, "/" | "/findings") => self.list(req).await,
            (true, "/precision") => self.precision_page().await,
            (true, "/api/findings") => self.api_list(req).await,
            (true, "/api/precision") => match self.stats().await {
                Ok(s) => Response::json(200, &serde_json::to_value(&s).unwrap_or_default()),
                Err(e) => store_error(&e),
            },
            (true, p) if p.starts_with("/api/findings/") => {
                self.api_one(&p["/api/findings/".len()..]).await
            }
            (true, p) if p.starts_with("/screenshots/") => {
                self.screenshot(&p["/screenshots/".len()..]).await
            }
            (true, p) if p.starts_with("/findings/") => {
                self.detail(&p["/findings/".len()..], req).await
            }
            (false, p) if req.method == "POST" && p.starts_with("/findings/") => {
                self.post(&p["/findings/".len()..], req, &caller).await
            }
            (false, _) => Response::text(405, "GET or HEAD here; POST only to a finding's forms\n"),
            _ => Response::text(404, "not found\n"),
        };
        Some(resp)
    }

    fn chrome(&self) -> Chrome {
        Chrome {
            csrf: if self.writable {
                self.guard.csrf_token(unix_now())
            } else {
                String::new()
            },
            writable: self.writable,
        }
    }

    /// Every finding, newest first.
    async fn records(&self, since: Option<u64>) -> Result<Vec<Record>, StoreError> {
        let store = self.store.clone();
        let mut all = blocking(move || store.list(since)).await?;
        all.reverse();
        all.sort_by_key(|r| std::cmp::Reverse(r.stored_at));
        Ok(all)
    }

    async fn one(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let store = self.store.clone();
        let id = id.to_string();
        blocking(move || store.get(&id)).await
    }

    /// The figures, from the cache while it is fresh, else from the store.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let now = unix_now();
        if let Some(s) = self.cached_stats(now) {
            return Ok(s);
        }
        let records = self.records(Some(now.saturating_sub(30 * 86_400))).await?;
        Ok(self.keep_stats(stats::compute(&records, now)))
    }

    /// The cached figures while they are younger than `stats_interval`.
    fn cached_stats(&self, now: u64) -> Option<Stats> {
        let cached = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        cached
            .as_ref()
            .filter(|s| now.saturating_sub(s.computed_at) < self.stats_interval.as_secs().max(1))
            .cloned()
    }

    fn keep_stats(&self, s: Stats) -> Stats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner()) = Some(s.clone());
        s
    }

    fn stale(&self) {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    async fn filtered(
        &self,
        req: &Request,
    ) -> Result<(Filter, Vec<Record>, Vec<String>, Stats), Response> {
        let filter = Filter::parse(&req.query).map_err(|e| Response::text(400, e + "\n"))?;
        let all = self.records(None).await.map_err(|e| store_error(&e))?;
        let now = unix_now();
        // The figures from the records already read, when the cached ones are stale: one read
        // of the store per view (a scan of the whole table on DynamoDB), not two.
        let stats = self
            .cached_stats(now)
            .unwrap_or_else(|| self.keep_stats(stats::compute(&all, now)));
        let mut brands: Vec<String> = all
            .iter()
            .flat_map(|r| stats::rules_and_brands(&r.finding.rules).1)
            .collect();
        brands.sort();
        brands.dedup();
        let hits = all.into_iter().filter(|r| filter.matches(r, now)).collect();
        Ok((filter, hits, brands, stats))
    }

    async fn list(&self, req: &Request) -> Response {
        let (filter, hits, brands, stats) = match self.filtered(req).await {
            Ok(x) => x,
            Err(resp) => return resp,
        };
        let total = hits.len();
        let start = (filter.page - 1) * self.page_size;
        let rows: Vec<Row> = hits
            .iter()
            .skip(start)
            .take(self.page_size)
            .map(Row::of)
            .collect();
        let precision = stats
            .windows
            .iter()
            .map(|w| match w.all.precision() {
                Some(p) => format!(
                    "{} days {p:.2} ({} judged)",
                    w.days,
                    w.all.phishing + w.all.false_alarm
                ),
                None => format!("{} days: no verdicts yet", w.days),
            })
            .collect();
        let brand_opts: Vec<(&str, &str)> =
            brands.iter().map(|b| (b.as_str(), b.as_str())).collect();
        let page = ListPage {
            chrome: self.chrome(),
            first: if rows.is_empty() { 0 } else { start + 1 },
            last: start + rows.len(),
            rows,
            total,
            prev: (filter.page > 1).then(|| filter.query(filter.page - 1)),
            next: (start + self.page_size < total).then(|| filter.query(filter.page + 1)),
            since: view::options(
                &SINCE.map(|(s, _)| (s, s)),
                filter.since.as_ref().map(|s| s.0.as_str()),
            ),
            rule: view::options(
                &[
                    ("keyword", "keyword"),
                    ("lookalike", "look-alike"),
                    ("words", "words"),
                ],
                filter.rule.as_deref(),
            ),
            brand: view::options(&brand_opts, filter.brand.as_deref()),
            verdict: view::options(
                &[
                    ("phishing", "phishing"),
                    ("false_alarm", "false alarm"),
                    ("unsure", "unsure"),
                    ("none", "none yet"),
                ],
                filter.verdict.map(|v| v.map_or("none", |k| k.as_str())),
            ),
            registration: view::options(
                &[("recent", "recent"), ("old", "old"), ("unknown", "unknown")],
                filter.registration.map(|g| g.as_str()),
            ),
            q: filter.q.clone().unwrap_or_default(),
            here: format!("/findings?{}", filter.query(filter.page)),
            choices: &CHOICES,
            precision,
        };
        render(&page)
    }

    async fn detail(&self, id: &str, req: &Request) -> Response {
        let record = match self.one(id).await {
            Ok(Some(r)) => r,
            Ok(None) => return Response::text(404, "no such finding\n"),
            Err(e) => return store_error(&e),
        };
        let registrable = view::shown(&record.finding.registrable_domain);
        let allowlist = match self.allowlist.path() {
            Some(p) => Ok(p.display().to_string()),
            None => Err("set matcher.allowlist_file to allowlist with one click".into()),
        };
        let notice = req.param("done").and_then(|d| {
            let file = self
                .allowlist
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            match d {
                "verdict" => Some("Verdict saved.".to_string()),
                "allowlisted" => Some(format!(
                    "{registrable} was added to {file} and marked a false alarm; the rules reload within seconds."
                )),
                "already" => Some(format!(
                    "{registrable} was already in {file}; marked a false alarm."
                )),
                _ => None,
            }
        });
        render(&DetailPage::of(&record, self.chrome(), allowlist, notice))
    }

    async fn precision_page(&self) -> Response {
        match self.stats().await {
            Ok(s) => render(&PrecisionPage::of(&s, self.chrome())),
            Err(e) => store_error(&e),
        }
    }

    async fn api_list(&self, req: &Request) -> Response {
        let (filter, hits, _, _) = match self.filtered(req).await {
            Ok(x) => x,
            Err(resp) => {
                let msg = String::from_utf8_lossy(&resp.body).trim().to_string();
                return Response::json(resp.status, &serde_json::json!({ "error": msg }));
            }
        };
        let start = (filter.page - 1) * self.page_size;
        let findings: Vec<serde_json::Value> = hits
            .iter()
            .skip(start)
            .take(self.page_size)
            .map(view::json)
            .collect();
        Response::json(
            200,
            &serde_json::json!({
                "total": hits.len(),
                "page": filter.page,
                "page_size": self.page_size,
                "findings": findings,
            }),
        )
    }

    async fn api_one(&self, id: &str) -> Response {
        match self.one(id).await {
            Ok(Some(r)) => Response::json(200, &view::json(&r)),
            Ok(None) => Response::json(404, &serde_json::json!({"error": "no such finding"})),
            Err(e) => store_error(&e),
        }
    }

    async fn screenshot(&self, id: &str) -> Response {
        let uuid = match self.one(id).await {
            Ok(Some(r)) => r.finding.scan.and_then(|s| s.uuid.filter(|_| s.finished)),
            Ok(None) => None,
            Err(e) => return store_error(&e),
        };
        let Some(uuid) = uuid else {
            return Response::text(404, "no screenshot\n");
        };
        match self.screenshots.get(&uuid).await {
            Ok(img) => Response::new(200, img.content_type, img.bytes.as_ref().clone())
                .with("Cache-Control", "private, max-age=3600"),
            Err(Missing::NotThere) => Response::text(404, "no screenshot (yet)\n"),
            Err(Missing::Upstream(why)) => {
                tracing::debug!(finding = id, error = %why, "screenshot not fetched");
                Response::text(502, format!("{why}\n"))
            }
        }
    }

    /// The forms: `<id>/verdict` and `<id>/allowlist`.
    async fn post(&self, rest: &str, req: &Request, caller: &Caller) -> Response {
        if !self.writable {
            return Response::text(403, "the page is read-only (admin.page.writable = false)\n");
        }
        let form = req.form();
        let field = |name: &str| super::http::first(&form, name);
        if let Err(r) = self.guard.check_post(req, field("csrf"), unix_now()) {
            return refused(r);
        }
        let (id, action) = match rest.rsplit_once('/') {
            Some((id, a @ ("verdict" | "allowlist"))) => (id, a),
            _ => return Response::text(404, "not found\n"),
        };
        let record = match self.one(id).await {
            Ok(Some(r)) => r,
            Ok(None) => return Response::text(404, "no such finding\n"),
            Err(e) => return store_error(&e),
        };
        let kind = if action == "allowlist" {
            VerdictKind::FalseAlarm
        } else {
            match field("verdict").map(str::parse::<VerdictKind>) {
                Some(Ok(k)) => k,
                _ => return Response::text(400, "verdict: one of phishing, false_alarm, unsure\n"),
            }
        };
        let verdict = Verdict {
            kind,
            at: unix_now(),
            by: caller.0.clone(),
        };
        let store = self.store.clone();
        let (sid, v) = (id.to_string(), verdict.clone());
        match blocking(move || store.set_verdict(&sid, &v)).await {
            Ok(true) => {}
            Ok(false) => return Response::text(404, "no such finding\n"),
            Err(e) => return store_error(&e),
        }
        self.stale();
        tracing::info!(finding = id, verdict = kind.as_str(), by = %verdict.by, "verdict recorded");
        let back = format!("/findings/{id}");
        if action == "verdict" {
            let to = field("return")
                .filter(|r| local_path(r))
                .map_or_else(|| format!("{back}?done=verdict"), str::to_string);
            return Response::see_other(to);
        }
        let domain = &record.finding.registrable_domain;
        let why = format!(
            "false alarm {id} ({}) by {} at {}",
            record.finding.domain,
            verdict.by,
            view::time_of(verdict.at)
        );
        match self.allowlist.append(domain, &why) {
            Ok(done) => {
                tracing::info!(finding = id, domain = %domain, by = %verdict.by, added = (done == Appended::Added), "allowlisted from the page");
                let d = if done == Appended::Added {
                    "allowlisted"
                } else {
                    "already"
                };
                Response::see_other(format!("{back}?done={d}"))
            }
            Err(e) => Response::text(409, format!("the verdict is saved, but: {e}\n")),
        }
    }
}

/// A redirect target that stays on this listener: a path, not `//host` or a URL.
fn local_path(p: &str) -> bool {
    p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && p.len() < 2048
}

fn refused(r: Refused) -> Response {
    match r {
        Refused::Unauthorized(why) => Response::text(401, why).with(
            "WWW-Authenticate",
            "Basic realm=\"certhound\", charset=\"UTF-8\"",
        ),
        Refused::Forbidden(why) => Response::text(403, why),
    }
}

fn store_error(e: &StoreError) -> Response {
    tracing::warn!(error = %e, "analyst page: cannot read the store");
    Response::text(503, format!("{e}\n"))
}

fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Response::html(html),
        Err(e) => Response::text(500, format!("cannot render the page: {e}\n")),
    }
}

/// Runs a store call on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(StoreError::Remote(format!("store call failed: {e}"))))
}
