//! Runs the real `certhound` binary as a child process: config file in a temporary directory,
//! `--config <file>` before the subcommand, stdout and stderr collected line by line (through
//! channels, so tests wait on lines, never on time), signals, exit status; killed on drop. The
//! steps most tests take are methods of [`Certhound`]: wait for findings or a log event (failing
//! the test with the process's output), read the findings and the last `metrics` event, and
//! stop with a signal expecting exit 0.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::TestConfig;
use crate::output;

/// The certhound binary: `$CERTHOUND_BIN`, or `certhound` next to the test's `deps/` directory
/// (`target/debug/deps/<test>` → `target/debug/certhound`).
pub fn certhound_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CERTHOUND_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe
        .parent()
        .expect("test binary has a directory")
        .to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    let bin = dir.join(format!("certhound{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        panic!(
            "certhound binary not found at {}: build it first: cargo build --bins \
             (or set CERTHOUND_BIN)",
            bin.display()
        );
    }
    bin
}

/// A certhound command line to run.
#[derive(Debug, Clone, Default)]
pub struct CerthoundCommand {
    config: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// The temporary directories of the [`TestConfig`]s used (their stores), kept while the
    /// child runs.
    keep_alive: Vec<std::sync::Arc<tempfile::TempDir>>,
}

impl CerthoundCommand {
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes this TOML to `certhound.toml` in a temporary directory and passes
    /// `--config <file>` before the subcommand.
    pub fn config(mut self, toml: impl Into<String>) -> Self {
        self.config = Some(toml.into());
        self
    }

    /// [`Self::config`] with the rendered `config`; its temporary directory (with the store)
    /// is kept while the process runs.
    pub fn test_config(mut self, config: &TestConfig) -> Self {
        self.keep_alive.push(config.keep_alive());
        self.config(config.render())
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable of the child (the child starts without `RUST_LOG`,
    /// `RUST_BACKTRACE` and any `CERTHOUND_*` variable of the test's environment).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Starts the process.
    pub fn spawn(self) -> Certhound {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = tokio::process::Command::new(certhound_bin());
        if let Some(toml) = &self.config {
            let path = dir.path().join("certhound.toml");
            std::fs::write(&path, toml).expect("write config");
            cmd.arg("--config").arg(&path);
        }
        cmd.args(&self.args);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("CERTHOUND_") || k == "RUST_LOG" || k == "RUST_BACKTRACE" {
                cmd.env_remove(k.as_ref());
            }
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", certhound_bin().display()));
        let pipes = Pipes {
            stdout: Some(lines_of(child.stdout.take().unwrap())),
            stderr: Some(lines_of(child.stderr.take().unwrap())),
        };
        Certhound {
            child,
            pipes,
            stdout: Vec::new(),
            stderr: Vec::new(),
            exit: None,
            command_line: format!("certhound {}", self.args.join(" ")),
            config: self.config,
            dir,
            _keep_alive: self.keep_alive,
        }
    }

    /// Runs the process to its end (killed after `timeout`) and returns everything it wrote.
    pub async fn run(self, timeout: Duration) -> Finished {
        let mut p = self.spawn();
        let status = p.wait_exit(timeout).await;
        Finished {
            status,
            stdout: p.stdout.clone(),
            stderr: p.stderr.clone(),
        }
    }
}

/// What a process that ended wrote.
#[derive(Debug, Clone)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

impl Finished {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    pub fn stdout_text(&self) -> String {
        self.stdout.join("\n")
    }
    pub fn stderr_text(&self) -> String {
        self.stderr.join("\n")
    }
    /// Exit status and output, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            tail(&self.stdout, 60),
            tail(&self.stderr, 60)
        )
    }
}

fn lines_of(reader: impl AsyncRead + Unpin + Send + 'static) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A line the child wrote, and on which stream.
enum Line {
    Stdout(String),
    Stderr(String),
}

/// The child's stdout and stderr as lines, each stream `None` once it closed.
struct Pipes {
    stdout: Option<mpsc::UnboundedReceiver<String>>,
    stderr: Option<mpsc::UnboundedReceiver<String>>,
}

impl Pipes {
    fn is_open(&self) -> bool {
        self.stdout.is_some() || self.stderr.is_some()
    }

    /// The next line of either stream; `None` once both are closed. Cancel safe (a line is
    /// only taken when it is returned), so it can stand in a `select!` loop.
    async fn next(&mut self) -> Option<Line> {
        loop {
            tokio::select! {
                l = recv(&mut self.stdout), if self.stdout.is_some() => match l {
                    Some(l) => return Some(Line::Stdout(l)),
                    None => self.stdout = None,
                },
                l = recv(&mut self.stderr), if self.stderr.is_some() => match l {
                    Some(l) => return Some(Line::Stderr(l)),
                    None => self.stderr = None,
                },
                else => return None,
            }
        }
    }

    /// A line already received, without waiting (stdout's first).
    fn try_next(&mut self) -> Option<Line> {
        if let Some(l) = try_recv(&mut self.stdout) {
            return Some(Line::Stdout(l));
        }
        try_recv(&mut self.stderr).map(Line::Stderr)
    }
}

async fn recv(rx: &mut Option<mpsc::UnboundedReceiver<String>>) -> Option<String> {
    rx.as_mut()?.recv().await
}

/// A waiting line, if any; closes the stream (`None`) when its sender is gone.
fn try_recv(rx: &mut Option<mpsc::UnboundedReceiver<String>>) -> Option<String> {
    match rx.as_mut()?.try_recv() {
        Ok(l) => Some(l),
        Err(mpsc::error::TryRecvError::Empty) => None,
        Err(mpsc::error::TryRecvError::Disconnected) => {
            *rx = None;
            None
        }
    }
}

fn tail(lines: &[String], n: usize) -> String {
    let start = lines.len().saturating_sub(n);
    let mut s = String::new();
    if start > 0 {
        s.push_str(&format!("[... {start} earlier lines]\n"));
    }
    for l in &lines[start..] {
        let l = if l.len() > 2000 {
            &l[..l.floor_char_boundary_compat(2000)]
        } else {
            l.as_str()
        };
        s.push_str(l);
        s.push('\n');
    }
    s
}

trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}
impl FloorCharBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

/// A running certhound.
pub struct Certhound {
    child: Child,
    pipes: Pipes,
    /// Every stdout line received so far.
    pub stdout: Vec<String>,
    /// Every stderr line received so far.
    pub stderr: Vec<String>,
    exit: Option<ExitStatus>,
    command_line: String,
    config: Option<String>,
    dir: tempfile::TempDir,
    _keep_alive: Vec<std::sync::Arc<tempfile::TempDir>>,
}

impl Certhound {
    /// `certhound --config <file> watch` (the feed URL comes from the config).
    pub fn watch(config: &TestConfig) -> Certhound {
        CerthoundCommand::new()
            .test_config(config)
            .arg("watch")
            .spawn()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("process still has a pid")
    }

    /// The temporary directory the process runs in (and its config file is in).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Moves the lines received so far into `stdout`/`stderr` without waiting.
    pub fn pump(&mut self) {
        while let Some(line) = self.pipes.try_next() {
            self.keep(line);
        }
    }

    /// Files a received line under `stdout` or `stderr`.
    fn keep(&mut self, line: Line) {
        match line {
            Line::Stdout(l) => self.stdout.push(l),
            Line::Stderr(l) => self.stderr.push(l),
        }
    }

    /// Waits for the next line of either stream; `false` when both are closed or at the deadline.
    async fn next_line(&mut self, deadline: Instant) -> bool {
        match tokio::time::timeout_at(deadline, self.pipes.next()).await {
            Ok(Some(line)) => {
                self.keep(line);
                true
            }
            Ok(None) | Err(_) => false,
        }
    }

    /// Waits until `cond` holds for the lines received so far; `Err` with a description of the
    /// process's output when the timeout passes or the process closed its output first.
    pub async fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&[String], &[String]) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            self.pump();
            if cond(&self.stdout, &self.stderr) {
                return Ok(());
            }
            if !self.next_line(deadline).await {
                self.pump();
                if cond(&self.stdout, &self.stderr) {
                    return Ok(());
                }
                let why = if Instant::now() >= deadline {
                    format!("timed out after {timeout:?}")
                } else {
                    "the process closed stdout and stderr".to_string()
                };
                return Err(self.describe(&format!("waiting for {what}: {why}")));
            }
        }
    }

    /// Waits until stdout has at least `n` lines; returns them all.
    pub async fn wait_for_stdout_lines(
        &mut self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<String>, String> {
        self.wait_until(&format!("{n} stdout lines"), timeout, |out, _| {
            out.len() >= n
        })
        .await?;
        Ok(self.stdout.clone())
    }

    /// Waits for a stderr line satisfying `pred` (lines already received count); returns it.
    pub async fn wait_for_stderr(
        &mut self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Result<String, String> {
        self.wait_for_stderr_count(what, 1, timeout, &mut pred)
            .await?;
        Ok(self.stderr.iter().find(|l| pred(l)).cloned().unwrap())
    }

    /// Waits until at least `n` stderr lines satisfy `pred`.
    pub async fn wait_for_stderr_count(
        &mut self,
        what: &str,
        n: usize,
        timeout: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Result<(), String> {
        self.wait_until(&format!("{n} × {what} on stderr"), timeout, |_, err| {
            err.iter().filter(|l| pred(l)).count() >= n
        })
        .await
    }

    /// Waits for `n` log events with message `message` (and `pred` on the parsed event); returns
    /// all such events.
    pub async fn wait_for_events(
        &mut self,
        message: &str,
        n: usize,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Vec<Value>, String> {
        let matches = |l: &str| {
            output::parse_event(l)
                .filter(|e| {
                    output::event_message(e).is_some_and(|m| output::message_is(m, message))
                })
                .is_some_and(|e| pred(&e))
        };
        self.wait_for_stderr_count(&format!("event `{message}`"), n, timeout, matches)
            .await?;
        Ok(self
            .stderr
            .iter()
            .filter_map(|l| output::parse_event(l))
            .filter(|e| {
                output::event_message(e).is_some_and(|m| output::message_is(m, message)) && pred(e)
            })
            .collect())
    }

    /// The first log event with message `message`, waited for; the test fails with the
    /// process's output when none comes within `timeout`.
    pub async fn expect_event(&mut self, message: &str, timeout: Duration) -> Value {
        let events = self
            .wait_for_events(message, 1, timeout, |_| true)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        events[0].clone()
    }

    /// Waits until stdout holds findings for every one of `registrable_domains`.
    pub async fn wait_for_findings(
        &mut self,
        registrable_domains: &[&str],
        timeout: Duration,
    ) -> Result<(), String> {
        let wanted: Vec<String> = registrable_domains.iter().map(|s| s.to_string()).collect();
        self.wait_until(&format!("findings for {wanted:?}"), timeout, |out, _| {
            let seen: Vec<String> = out
                .iter()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter_map(|f| f["registrable_domain"].as_str().map(str::to_string))
                .collect();
            wanted.iter().all(|w| seen.contains(w))
        })
        .await
    }

    /// Stdout lines parsed as findings (panics on a line that is not JSON).
    pub fn findings(&mut self) -> Vec<Value> {
        self.pump();
        self.stdout
            .iter()
            .map(|l| output::parse_finding(l))
            .collect()
    }

    /// [`Self::wait_for_findings`], failing the test with the process's output when they do not
    /// all come in time.
    pub async fn expect_findings(&mut self, registrable_domains: &[&str], timeout: Duration) {
        self.wait_for_findings(registrable_domains, timeout)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The `registrable_domain` of each stdout finding so far, in order.
    pub fn found_domains(&mut self) -> Vec<String> {
        self.findings()
            .iter()
            .map(|f| output::registrable_domain(f).to_string())
            .collect()
    }

    /// Log events with this message received so far.
    pub fn events(&mut self, message: &str) -> Vec<Value> {
        self.pump();
        output::events(&self.stderr, message)
    }

    /// The last log event with this message received so far (e.g. the final `metrics`).
    pub fn last_event(&mut self, message: &str) -> Option<Value> {
        self.events(message).pop()
    }

    /// The clean stop most tests end with: SIGTERM, then the test fails unless the process exits
    /// 0 within [`timeouts::EXIT`](crate::timeouts::EXIT). Returns [`Self::describe`]`(what)`
    /// (taken after the exit) for the assertion messages that follow.
    pub async fn stop_cleanly(&mut self, what: &str) -> String {
        self.stop_cleanly_on(libc::SIGTERM, what).await
    }

    /// [`Self::stop_cleanly`] with another signal (`libc::SIGINT`...).
    pub async fn stop_cleanly_on(&mut self, signal: i32, what: &str) -> String {
        self.send_signal(signal);
        let status = self.wait_exit(crate::timeouts::EXIT).await;
        let describe = self.describe(what);
        assert_eq!(status.code(), Some(0), "{describe}");
        describe
    }

    /// Sends a signal (`libc::SIGTERM`, `libc::SIGINT`...).
    pub fn send_signal(&self, signal: i32) {
        let pid = self.child.id().expect("process already reaped") as libc::pid_t;
        // SAFETY: kill(2) with the pid of our own child.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(
            rc,
            0,
            "kill({pid}, {signal}) failed: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        if self.exit.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.exit = Some(status);
                false
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// Waits for the process to exit (killed, and the test failed, after `timeout`), then reads
    /// the rest of its output.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(s) = self.exit {
            self.drain().await;
            return s;
        }
        let deadline = Instant::now() + timeout;
        // Read output while waiting, so that a full pipe cannot block the child.
        let status = loop {
            tokio::select! {
                s = self.child.wait() => break s.expect("wait for certhound"),
                Some(line) = self.pipes.next(), if self.pipes.is_open() => self.keep(line),
                _ = tokio::time::sleep_until(deadline) => {
                    let _ = self.child.start_kill();
                    let _ = self.child.wait().await;
                    self.drain().await;
                    panic!("{}", self.describe(&format!("process did not exit within {timeout:?} (killed)")));
                }
            }
        };
        self.exit = Some(status);
        self.drain().await;
        status
    }

    /// Reads the output until both pipes close (a grandchild could keep them open: bounded).
    async fn drain(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.next_line(deadline).await {}
        self.pump();
    }

    /// The command, config, and the tail of the output, for assertion messages.
    pub fn describe(&self, what: &str) -> String {
        format!(
            "{what}\ncommand: {}\nexit: {:?}\n--- config ---\n{}\n--- stdout ({} lines) ---\n{}--- stderr ({} lines) ---\n{}",
            self.command_line,
            self.exit,
            self.config.as_deref().unwrap_or("(none)"),
            self.stdout.len(),
            tail(&self.stdout, 40),
            self.stderr.len(),
            tail(&self.stderr, 60),
        )
    }
}
