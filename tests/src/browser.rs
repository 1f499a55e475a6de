//! Headless Chromium for the browser tests of the analyst page, driven over the W3C WebDriver
//! protocol by a small client on the crate's async reqwest (the protocol is a handful of JSON
//! requests; a browser-automation crate would bring its own HTTP stack for them).
//!
//! [`Browser::start`] runs `chromedriver` (`$CHROMEDRIVER`, else `/usr/bin/chromedriver`) on a
//! loopback port it picks itself (`--port=0`; the port is read from its first lines, so no other
//! process can take it in between), waits until its `/status` says ready, and opens a session of
//! headless Chromium (`$CHROMIUM`, else `/usr/bin/chromium`) with a fresh profile in a temporary
//! directory and a [`WINDOW`]-sized window. Both come from Debian's `chromium` and
//! `chromium-driver` packages, which `.ci/test` installs. Dropping the [`Browser`] ends the
//! session (chromedriver quits Chromium), then kills whatever is left of chromedriver, its
//! descendants and the processes naming the profile (Chromium's crash handler leaves the
//! process group), so a test leaves no browser behind, even when it fails.
//!
//! Waiting: [`Browser::wait_for`] and [`Browser::wait_until`] look at the page again and again
//! until a condition holds or a timeout runs out (then the test fails with the page's URL and
//! title, and a screenshot saved as artefact). A condition checked in one [`Browser::execute`]
//! script is atomic; one that finds elements and reads them may see the page change in between.
//!
//! HTTP basic auth, two ways:
//! - a URL with userinfo, `goto("http://user:pass@127.0.0.1:PORT/")` (reserved characters
//!   percent-encoded): Chromium answers the server's challenge (401 with `WWW-Authenticate:
//!   Basic`) with these credentials, and keeps them for the session: later pages of that server
//!   are challenged too (Chromium 148 does not send them unasked) and answered without a prompt.
//!   The server sees each such page asked for once without `Authorization`;
//! - [`Browser::set_basic_auth`] (or any header with [`Browser::set_extra_headers`]): every
//!   request of the page, form posts and images included, carries `Authorization` from the
//!   first one, no challenge needed, through DevTools' `Network.setExtraHTTPHeaders`
//!   (chromedriver's `goog/cdp/execute`).
//!
//! Screenshots: [`Browser::screenshot`] writes the viewport as PNG; [`Browser::save_artifact`]
//! writes it to `<target dir>/test-artifacts/<name>.png` (`$CARGO_TARGET_DIR`, else the
//! workspace's `target/`).
//!
//! A failed WebDriver command fails the test with the command and the driver's error (its name
//! and message, not its stack trace); URLs in messages show no password.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::timeouts;

/// The window's size in CSS pixels (width, height), and its viewport's ([`Browser::start`] sets
/// it so; pixel ratio 1): screenshots have this size.
pub const WINDOW: (u32, u32) = (1280, 1000);

/// Chromium's command line besides the profile and the window size: headless, no sandbox (CI
/// runs as root), nothing that talks to the network on its own (tests only go to loopback; a
/// proxy set in the environment is not used), and shared memory in /tmp (a container's
/// /dev/shm is small).
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-proxy-server",
];

/// The key of an element reference in WebDriver's JSON (W3C).
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long one WebDriver command may take, a page load included (the session's own page load
/// timeout, 60 s, ends a load that hangs first).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// How often a wait looks at the page (or chromedriver's `/status`) again.
const POLL: Duration = Duration::from_millis(50);

/// The chromedriver binary: `$CHROMEDRIVER`, else Debian's.
pub fn chromedriver_bin() -> PathBuf {
    installed("CHROMEDRIVER", "/usr/bin/chromedriver", "chromedriver")
}

/// The Chromium binary: `$CHROMIUM`, else Debian's.
pub fn chromium_bin() -> PathBuf {
    installed("CHROMIUM", "/usr/bin/chromium", "Chromium")
}

fn installed(var: &str, default: &str, what: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    if !path.is_file() {
        panic!(
            "{what} not found at {} (set {var}): the browser tests need Debian's `chromium` and \
             `chromium-driver` packages; `bash .ci/test` installs them (apt-get install chromium \
             chromium-driver)",
            path.display()
        );
    }
    path
}

/// Where test artefacts go: `<target dir>/test-artifacts/`, the target dir being
/// `$CARGO_TARGET_DIR` (relative to the workspace when relative), else the workspace's
/// `target/`.
pub fn artifacts_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the workspace")
        .to_path_buf();
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace.join(dir),
        _ => workspace.join("target"),
    };
    target.join("test-artifacts")
}

/// An error WebDriver answered: its status, error name (`no such element`...) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebDriverError {
    pub status: u16,
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (HTTP {}): {}", self.error, self.status, self.message)
    }
}

/// A running headless Chromium with its chromedriver; both end when it is dropped.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    session_url: String,
    session_id: String,
    driver: Driver,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (see the module doc).
    pub async fn start() -> Browser {
        let chromium = chromium_bin();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(COMMAND_TIMEOUT)
            .build()
            .expect("reqwest client");
        let driver = Driver::start(&http).await;
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!(
            "--user-data-dir={}",
            driver.profile.path().display()
        ));
        args.push(format!("--window-size={},{}", WINDOW.0, WINDOW.1));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"implicit": 0, "pageLoad": 60_000, "script": 30_000},
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": args,
            },
        }}});
        let url = format!("{}/session", driver.base_url());
        let created = send(&http, Method::POST, &url, Some(capabilities))
            .await
            .unwrap_or_else(|e| {
                panic!("WebDriver new session ({}) failed: {e}", chromium.display())
            });
        let session_id = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("WebDriver new session: no sessionId in {created}"))
            .to_string();
        let browser = Browser {
            http,
            session_url: format!("{}/session/{session_id}", driver.base_url()),
            session_id,
            driver,
        };
        // Headless Chromium keeps part of its window for toolbars it does not show (139 px of
        // 1000 in Chromium 148): the viewport is set to the whole window size instead, so that
        // layouts and screenshots do not depend on the version.
        browser
            .cdp(
                "Emulation.setDeviceMetricsOverride",
                "Emulation.setDeviceMetricsOverride",
                json!({"width": WINDOW.0, "height": WINDOW.1, "deviceScaleFactor": 1, "mobile": false}),
            )
            .await;
        browser
    }

    /// Sends a command of this session (`path` after `/session/ID`); the driver's error as `Err`.
    pub async fn try_command(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        send(
            &self.http,
            method,
            &format!("{}{path}", self.session_url),
            body,
        )
        .await
    }

    /// Sends a command of this session; a driver's error fails the test, naming `what` (the
    /// command as the test sees it) and the request.
    pub async fn command(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let request = format!("{method} {path}");
        self.try_command(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {what} ({request}) failed: {e}"))
    }

    /// Navigates to `url` and waits for the page to load (a `user:pass@` URL answers a basic
    /// auth challenge, see the module doc).
    pub async fn goto(&self, url: &str) {
        let what = format!("goto {}", redact(url));
        self.command(&what, Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The page's URL.
    pub async fn current_url(&self) -> String {
        let url = self.command("current_url", Method::GET, "/url", None).await;
        as_string(url, "current_url")
    }

    /// The page's title.
    pub async fn title(&self) -> String {
        let title = self.command("title", Method::GET, "/title", None).await;
        as_string(title, "title")
    }

    /// The page's HTML as the browser has it now.
    pub async fn source(&self) -> String {
        let source = self.command("source", Method::GET, "/source", None).await;
        as_string(source, "source")
    }

    /// The first element matching `css`; fails the test when there is none.
    pub async fn find(&self, css: &str) -> Element<'_> {
        let found = self
            .command(
                &format!("find {css:?}"),
                Method::POST,
                "/element",
                Some(by_css(css)),
            )
            .await;
        self.element(&found, css)
    }

    /// The first element matching `css`, or `None`.
    pub async fn try_find(&self, css: &str) -> Option<Element<'_>> {
        match self
            .try_command(Method::POST, "/element", Some(by_css(css)))
            .await
        {
            Ok(found) => Some(self.element(&found, css)),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("WebDriver find {css:?} (POST /element) failed: {e}"),
        }
    }

    /// Every element matching `css`, in document order.
    pub async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let found = self
            .command(
                &format!("find_all {css:?}"),
                Method::POST,
                "/elements",
                Some(by_css(css)),
            )
            .await;
        self.elements(&found, css)
    }

    /// Runs `script` as the body of a function in the page (`arguments` are `args`; an
    /// [`Element::arg`] arrives as the DOM element) and returns what it returns. A script that
    /// throws fails the test.
    pub async fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.command(
            "execute",
            Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Waits until an element matches `css` and returns it; fails the test after `timeout`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element<'_> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(element) = self.try_find(css).await {
                return element;
            }
            if Instant::now() >= deadline {
                self.wait_failed(&format!("an element matching {css:?}"), timeout)
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until `condition` returns `Some` and returns its value; fails the test after
    /// `timeout`, naming `what` it waited for. The condition looks at the page through the
    /// browser it is given: `b.wait_until(t, "the results", async |b| ...)`.
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut condition: impl AsyncFnMut(&Browser) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = condition(self).await {
                return value;
            }
            if Instant::now() >= deadline {
                self.wait_failed(what, timeout).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Fails a wait: saves a screenshot as artefact (named after the test) and panics with the
    /// page's URL and title.
    async fn wait_failed(&self, what: &str, timeout: Duration) -> ! {
        let url = self.try_command(Method::GET, "/url", None).await;
        let title = self.try_command(Method::GET, "/title", None).await;
        let test = std::thread::current()
            .name()
            .unwrap_or("browser")
            .to_string();
        let shot = match self.try_screenshot_png().await {
            Ok(png) => {
                let path = artifacts_dir().join(format!("{}-timeout.png", file_name(&test)));
                match write_file(&path, &png) {
                    Ok(()) => format!("screenshot {}", path.display()),
                    Err(e) => format!("no screenshot ({e})"),
                }
            }
            Err(e) => format!("no screenshot ({e})"),
        };
        let show = |v: Result<Value, WebDriverError>| match v {
            Ok(Value::String(s)) => redact(&s),
            Ok(other) => other.to_string(),
            Err(e) => e.to_string(),
        };
        panic!(
            "waited {timeout:?} for {what} in vain; the page: {} (title {:?}); {shot}",
            show(url),
            show(title)
        )
    }

    /// The viewport as PNG bytes.
    pub async fn screenshot_png(&self) -> Vec<u8> {
        self.try_screenshot_png()
            .await
            .unwrap_or_else(|e| panic!("WebDriver screenshot (GET /screenshot) failed: {e}"))
    }

    async fn try_screenshot_png(&self) -> Result<Vec<u8>, WebDriverError> {
        let encoded = self.try_command(Method::GET, "/screenshot", None).await?;
        let encoded = encoded.as_str().unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| WebDriverError {
                status: 200,
                error: "screenshot not base64".into(),
                message: e.to_string(),
            })
    }

    /// Saves the viewport as PNG at `path` (directories created).
    pub async fn screenshot(&self, path: &Path) {
        let png = self.screenshot_png().await;
        write_file(path, &png)
            .unwrap_or_else(|e| panic!("writing the screenshot {}: {e}", path.display()));
    }

    /// Saves the viewport as `<target dir>/test-artifacts/<name>.png` (characters other than
    /// letters, digits, `-`, `_` and `.` in `name` become `_`) and returns the path.
    pub async fn save_artifact(&self, name: &str) -> PathBuf {
        let path = artifacts_dir().join(format!("{}.png", file_name(name)));
        self.screenshot(&path).await;
        path
    }

    /// Runs a DevTools command in the page's target (chromedriver's `goog/cdp/execute`).
    /// `what` names it in a failure (the parameters are not shown: they may hold a secret).
    pub async fn cdp(&self, what: &str, cmd: &str, params: Value) -> Value {
        self.command(
            &format!("cdp {what}"),
            Method::POST,
            "/goog/cdp/execute",
            Some(json!({"cmd": cmd, "params": params})),
        )
        .await
    }

    /// Sends these headers with every request the page makes from now on (replacing the ones
    /// set before), through DevTools' `Network.setExtraHTTPHeaders`.
    pub async fn set_extra_headers(&self, headers: &[(&str, &str)]) {
        // The extra headers apply only while the Network domain is enabled.
        self.cdp("Network.enable", "Network.enable", json!({}))
            .await;
        let headers: HashMap<&str, &str> = headers.iter().copied().collect();
        self.cdp(
            "Network.setExtraHTTPHeaders",
            "Network.setExtraHTTPHeaders",
            json!({ "headers": headers }),
        )
        .await;
    }

    /// Sends `Authorization: Basic <user:password>` with every request from now on, without
    /// waiting for a challenge.
    pub async fn set_basic_auth(&self, user: &str, password: &str) {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.set_extra_headers(&[("Authorization", &format!("Basic {token}"))])
            .await;
    }

    /// The processes of this browser still running: chromedriver, its descendants (Chromium's)
    /// and the processes naming the profile directory (Chromium's crash handler, which leaves
    /// the process tree).
    pub fn processes(&self) -> Vec<u32> {
        self.driver.processes()
    }

    fn element(&self, found: &Value, css: &str) -> Element<'_> {
        let id = found[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("WebDriver find {css:?}: no element reference in {found}"));
        Element {
            browser: self,
            id: id.to_string(),
            css: css.to_string(),
        }
    }

    fn elements(&self, found: &Value, css: &str) -> Vec<Element<'_>> {
        found
            .as_array()
            .unwrap_or_else(|| panic!("WebDriver find_all {css:?}: not a list: {found}"))
            .iter()
            .map(|f| self.element(f, css))
            .collect()
    }
}

impl Drop for Browser {
    /// Ends the session first, so that chromedriver quits Chromium and waits for it; the
    /// driver's own drop then kills what is left. Blocking: `Drop` cannot await, and the
    /// request goes to another process, which needs nothing from this runtime.
    fn drop(&mut self) {
        if let Err(e) = delete_session(self.driver.addr, &self.session_id) {
            eprintln!("browser: ending the WebDriver session failed ({e}); killing it");
        }
    }
}

/// An element of the page (a WebDriver reference: it goes stale when the page changes).
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
    /// The selector it was found by, for messages.
    css: String,
}

impl<'b> Element<'b> {
    async fn command(&self, what: &str, method: Method, path: &str, body: Option<Value>) -> Value {
        self.browser
            .command(
                &format!("{what} on {:?}", self.css),
                method,
                &format!("/element/{}{path}", self.id),
                body,
            )
            .await
    }

    /// Its rendered text (`innerText`: what is visible, whitespace as laid out).
    pub async fn text(&self) -> String {
        as_string(
            self.command("text", Method::GET, "/text", None).await,
            "text",
        )
    }

    /// An attribute (`None` when it is absent). For a few attributes WebDriver answers the
    /// current property (an input's `value`, `checked`).
    pub async fn attr(&self, name: &str) -> Option<String> {
        match self
            .command(
                &format!("attr {name:?}"),
                Method::GET,
                &format!("/attribute/{name}"),
                None,
            )
            .await
        {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        }
    }

    /// A DOM property (`value`, `checked`, `tagName`...).
    pub async fn property(&self, name: &str) -> Value {
        self.command(
            &format!("property {name:?}"),
            Method::GET,
            &format!("/property/{name}"),
            None,
        )
        .await
    }

    /// Clicks it (scrolled into view first; fails when something else covers it).
    pub async fn click(&self) {
        self.command("click", Method::POST, "/click", Some(json!({})))
            .await;
    }

    /// Types `text` into it (after what it holds).
    pub async fn send_keys(&self, text: &str) {
        self.command(
            "send_keys",
            Method::POST,
            "/value",
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Empties an input or textarea.
    pub async fn clear(&self) {
        self.command("clear", Method::POST, "/clear", Some(json!({})))
            .await;
    }

    /// The first element inside it matching `css`; fails the test when there is none.
    pub async fn find(&self, css: &str) -> Element<'b> {
        let found = self
            .command(
                &format!("find {css:?}"),
                Method::POST,
                "/element",
                Some(by_css(css)),
            )
            .await;
        self.browser.element(&found, css)
    }

    /// Every element inside it matching `css`.
    pub async fn find_all(&self, css: &str) -> Vec<Element<'b>> {
        let found = self
            .command(
                &format!("find_all {css:?}"),
                Method::POST,
                "/elements",
                Some(by_css(css)),
            )
            .await;
        self.browser.elements(&found, css)
    }

    /// The element as an argument of [`Browser::execute`].
    pub fn arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }
}

/// chromedriver and the profile of its Chromium; kills what is left of both when dropped.
struct Driver {
    child: Child,
    addr: SocketAddr,
    profile: tempfile::TempDir,
}

impl Driver {
    async fn start(http: &reqwest::Client) -> Driver {
        let bin = chromedriver_bin();
        let profile = tempfile::Builder::new()
            .prefix("certhound-chromium-")
            .tempdir()
            .expect("temporary directory for Chromium's profile");
        // Output through pipes, not the test's own stdout/stderr: Chromium's crash handler can
        // outlive the test by a moment, and a process holding the test's output makes nextest
        // report the test as leaky. The lines are passed on to the test's stderr.
        let mut child = Command::new(&bin)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut driver = Driver {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            profile,
        };
        let (port_tx, port_rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || read_port(stdout, port_tx));
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("chromedriver: {line}");
            }
        });
        let port = match tokio::time::timeout(timeouts::EVENT, port_rx).await {
            Ok(Ok(Ok(port))) => port,
            Ok(Ok(Err(lines))) => panic!(
                "chromedriver ({}) ended its output without saying its port:\n{}",
                bin.display(),
                lines.join("\n")
            ),
            Ok(Err(_)) => panic!("chromedriver's output reader stopped"),
            Err(_) => panic!(
                "chromedriver ({}) did not say its port within {:?}",
                bin.display(),
                timeouts::EVENT
            ),
        };
        driver.addr.set_port(port);
        driver.wait_ready(http).await;
        driver
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until `/status` answers `ready: true`.
    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let url = format!("{}/status", self.base_url());
        let deadline = Instant::now() + timeouts::EVENT;
        loop {
            let last = match send(http, Method::GET, &url, None).await {
                Ok(status) if status["ready"] == json!(true) => return,
                Ok(status) => status.to_string(),
                Err(e) => e.to_string(),
            };
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!(
                    "chromedriver exited ({exit}) before it was ready; its last /status: {last}"
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "chromedriver not ready within {:?}; its last /status: {last}",
                    timeouts::EVENT
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// See [`Browser::processes`].
    fn processes(&self) -> Vec<u32> {
        let table = process_table();
        let mut found = BTreeSet::from([self.child.id()]);
        // Descendants: parents come before children in no particular order, so repeat until
        // nothing is added.
        loop {
            let before = found.len();
            for p in &table {
                if found.contains(&p.ppid) {
                    found.insert(p.pid);
                }
            }
            if found.len() == before {
                break;
            }
        }
        let profile = self.profile.path().to_string_lossy().into_owned();
        for p in &table {
            if p.cmdline.contains(&profile) {
                found.insert(p.pid);
            }
        }
        table
            .iter()
            .filter(|p| found.contains(&p.pid) && p.alive())
            .map(|p| p.pid)
            .collect()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Collected before chromedriver dies, while its descendants are still its own.
        let left = self.processes();
        for pid in left {
            if pid != self.child.id() {
                // SAFETY: kill(2) with a pid read from /proc just now; no memory involved.
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                }
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads chromedriver's stdout until it says its port (`... started successfully on port N.`),
/// sends it (or the lines seen when the output ends first), then passes the rest on.
fn read_port(
    stdout: std::process::ChildStdout,
    port_tx: tokio::sync::oneshot::Sender<Result<u16, Vec<String>>>,
) {
    let mut port_tx = Some(port_tx);
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if port_tx.is_none() {
            eprintln!("chromedriver: {line}");
            continue;
        }
        let port = line
            .split_once("started successfully on port ")
            .and_then(|(_, rest)| rest.trim_end_matches('.').trim().parse::<u16>().ok());
        match port {
            Some(port) => {
                let _ = port_tx.take().expect("not sent yet").send(Ok(port));
            }
            None => seen.push(line),
        }
    }
    if let Some(tx) = port_tx {
        let _ = tx.send(Err(seen));
    }
}

/// Sends a WebDriver request; the answer's `value`, or the driver's error.
async fn send(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, WebDriverError> {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let unreachable = |e: reqwest::Error| WebDriverError {
        status: 0,
        error: "chromedriver unreachable".into(),
        message: e.without_url().to_string(),
    };
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let text = response.text().await.map_err(unreachable)?;
    let mut answer: Value = serde_json::from_str(&text).map_err(|e| WebDriverError {
        status: status.as_u16(),
        error: "answer not JSON".into(),
        message: format!("{e}: {}", text.chars().take(500).collect::<String>()),
    })?;
    let value = answer["value"].take();
    if status.is_success() {
        return Ok(value);
    }
    Err(WebDriverError {
        status: status.as_u16(),
        error: value["error"]
            .as_str()
            .unwrap_or("unknown error")
            .to_string(),
        // The first line: chromedriver appends its session info after it.
        message: value["message"]
            .as_str()
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    })
}

/// Ends a session with a blocking HTTP/1.1 request (for `Drop`, which cannot await).
fn delete_session(addr: SocketAddr, session_id: &str) -> std::io::Result<()> {
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    // Chromium quits within a few seconds; a driver that does not answer in time is killed.
    tcp.set_read_timeout(Some(timeouts::EVENT))?;
    tcp.set_write_timeout(Some(timeouts::EVENT))?;
    write!(
        tcp,
        "DELETE /session/{session_id} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )?;
    // The status line is enough: chromedriver answers once Chromium has quit.
    let mut status_line = String::new();
    BufReader::new(&tcp)
        .take(4096)
        .read_line(&mut status_line)?;
    if status_line.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "answer {:?}",
            status_line.trim_end()
        )))
    }
}

/// One line of the process table.
struct ProcessInfo {
    pid: u32,
    ppid: u32,
    /// `R`, `S`, `Z` (exited, not reaped yet)...
    state: char,
    /// The command line, arguments separated by spaces.
    cmdline: String,
}

impl ProcessInfo {
    /// Running (an exited process waiting to be reaped is not).
    fn alive(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Every process, from `/proc`.
fn process_table() -> Vec<ProcessInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let after = &stat[stat.rfind(')')? + 1..];
            let mut fields = after.split_whitespace();
            let state = fields.next()?.chars().next()?;
            let ppid = fields.next()?.parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
                .unwrap_or_default();
            Some(ProcessInfo {
                pid,
                ppid,
                state,
                cmdline,
            })
        })
        .collect()
}

/// Whether process `pid` is still running (gone or exited-not-reaped is not).
pub fn process_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .and_then(|s| s.chars().next());
    !matches!(state, None | Some('Z' | 'X' | 'x'))
}

fn by_css(css: &str) -> Value {
    json!({"using": "css selector", "value": css})
}

fn as_string(value: Value, what: &str) -> String {
    match value {
        Value::String(s) => s,
        other => panic!("WebDriver {what}: not a string: {other}"),
    }
}

/// `url` with the password of its userinfo hidden (`http://user:***@host/`).
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// `name` as a file name: letters, digits, `-`, `_` and `.` kept, anything else `_`.
fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(
            redact("http://analyst:s3cret@127.0.0.1:8080/page?q=a@b"),
            "http://analyst:***@127.0.0.1:8080/page?q=a@b"
        );
        assert_eq!(redact("http://127.0.0.1/a@b"), "http://127.0.0.1/a@b");
        assert_eq!(redact("about:blank"), "about:blank");
    }

    #[test]
    fn file_names_keep_no_path() {
        assert_eq!(file_name("page/../filter 1"), "page_.._filter_1");
    }
}
