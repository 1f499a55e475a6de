//! A loopback Telegram Bot API: a real HTTP/1.1 server (hyper, keep-alive) on 127.0.0.1 that
//! answers `POST /bot<token>/sendMessage` and `POST /bot<token>/sendPhoto` (JSON bodies) the way
//! the real API does: 401 for a wrong token, 400 with Telegram's `description` for a missing
//! `chat_id`, `text` or `photo`, an unknown chat, a text over 4096 characters or a caption over
//! 1024 (counted after entity parsing), and `parse_mode: "HTML"` markup it cannot parse
//! ([`parse_html`]: unknown or unbalanced tags, a raw `<` or `&`); 200 with the sent message
//! otherwise.
//!
//! Scriptable ([`Fault`]): 429 `Too Many Requests` with `parameters.retry_after` (and no
//! `Retry-After` header, as Telegram), another status (500...), a delay or a dropped connection,
//! for the next k requests or for a span of time. It also checks the per-chat limits Telegram documents (1 message per second
//! per chat, 20 per minute per group, 30 per second overall) and records each breach as a
//! [`Violation`] without rejecting anything.
//!
//! Observable: every request (path, token, method, body JSON, arrival and answer times, status and
//! answer), the accepted messages per chat in order. Tests wait on them with `wait_for*` (woken on
//! each request, never polled).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use crate::fault::Fault;
use crate::fault::{reason, FaultScript, Hangup};
use crate::http_fake::{Fake, FakeListener};
use crate::observed::{Observed, Waited};
use crate::recorded::Recorded;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

/// The bot token the fake accepts unless told otherwise.
pub const TOKEN: &str = "123:ABC";
/// The chat the fake knows unless told otherwise (a group: negative id).
pub const CHAT_ID: &str = "-1001234";
/// `sendMessage` `text`, after entity parsing.
pub const MAX_TEXT_CHARS: usize = 4096;
/// `sendPhoto` `caption`, after entity parsing.
pub const MAX_CAPTION_CHARS: usize = 1024;

/// Which of Telegram's limits a message broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Limit {
    /// More than `per_chat_per_second` messages to one chat within a second.
    PerChatSecond,
    /// More than `per_group_per_minute` messages to one group within a minute.
    PerGroupMinute,
    /// More than `overall_per_second` messages (all chats) within a second.
    OverallSecond,
}

/// The limits checked (Telegram's documented ones by default) and the tolerance for the jitter
/// between sending and arrival: a window of a second counts the messages of the last
/// `1 s - slack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub per_chat_per_second: usize,
    pub per_group_per_minute: usize,
    pub overall_per_second: usize,
    pub slack: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_chat_per_second: 1,
            per_group_per_minute: 20,
            overall_per_second: 30,
            slack: Duration::from_millis(200),
        }
    }
}

/// A message accepted although it broke a limit (the real API would have answered 429 sooner or
/// later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub limit: Limit,
    pub chat_id: String,
    /// The request ([`Recorded::n`]) of the message that broke it.
    pub request: usize,
    /// Messages in the window, this one included.
    pub count: usize,
    pub at: Instant,
}

/// What the fake made of a request.
#[derive(Debug, Clone)]
pub struct Made {
    /// When the answer was decided (after the body was read): a client cannot have seen the
    /// answer before this.
    pub answered_at: Instant,
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub json: Value,
    /// The status answered (0 for a dropped connection).
    pub status: u16,
    /// The JSON answered (`Value::Null` for a dropped connection).
    pub answer: Value,
}

/// One request as received.
pub type Received = Recorded<Made>;

impl Received {
    /// The token of `/bot<token>/<method>`; `None` for other paths.
    pub fn token(&self) -> Option<&str> {
        bot_call(&self.path).map(|(token, _)| token)
    }

    /// The API method of `/bot<token>/<method>` (`sendMessage`...); `None` for other paths.
    /// (`method` is the HTTP method.)
    pub fn api_method(&self) -> Option<&str> {
        bot_call(&self.path).map(|(_, method)| method)
    }

    pub fn accepted(&self) -> bool {
        self.status == 200
    }

    /// `description` of the answer (errors only).
    pub fn description(&self) -> Option<&str> {
        self.answer["description"].as_str()
    }

    /// `chat_id` of the body as a string (numbers are accepted, as by the API).
    pub fn chat_id(&self) -> Option<String> {
        chat_id_of(&self.json)
    }

    /// `text` of the body.
    pub fn text(&self) -> Option<&str> {
        self.json["text"].as_str()
    }
}

/// A link of a message (`<a href="...">text</a>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub href: String,
    pub text: String,
}

/// An accepted message.
#[derive(Debug, Clone)]
pub struct Message {
    /// Per chat, from 1.
    pub message_id: u64,
    pub chat_id: String,
    /// `sendMessage` or `sendPhoto`.
    pub method: String,
    /// The request ([`Recorded::n`]) that sent it.
    pub request: usize,
    pub at: Instant,
    /// `text` (sendMessage) or `caption` (sendPhoto) as sent, markup included.
    pub raw: String,
    /// The same after entity parsing: what the reader sees.
    pub text: String,
    /// The links of `parse_mode: "HTML"` markup.
    pub links: Vec<Link>,
    pub parse_mode: Option<String>,
    /// `photo` of a sendPhoto.
    pub photo: Option<String>,
    /// The whole request body.
    pub body: Value,
}

impl Message {
    /// Whether the reader sees `s` in the text.
    pub fn shows(&self, s: &str) -> bool {
        self.text.contains(s)
    }

    /// `link_preview_options.is_disabled`.
    pub fn link_preview_disabled(&self) -> bool {
        self.body["link_preview_options"]["is_disabled"] == Value::Bool(true)
            || self.body["disable_web_page_preview"] == Value::Bool(true)
    }
}

/// Everything the fake saw so far.
#[derive(Debug, Clone, Default)]
pub struct TelegramState {
    pub requests: Vec<Received>,
    /// Accepted messages in order of arrival (all chats).
    pub messages: Vec<Message>,
    pub violations: Vec<Violation>,
}

impl TelegramState {
    /// Accepted messages to this chat, in order.
    pub fn messages_in(&self, chat_id: &str) -> Vec<&Message> {
        self.messages
            .iter()
            .filter(|m| m.chat_id == chat_id)
            .collect()
    }

    /// Accepted `sendMessage`s (no photos), in order.
    pub fn text_messages(&self) -> Vec<&Message> {
        self.messages
            .iter()
            .filter(|m| m.method == "sendMessage")
            .collect()
    }

    /// Accepted `sendPhoto`s, in order.
    pub fn photos(&self) -> Vec<&Message> {
        self.messages
            .iter()
            .filter(|m| m.method == "sendPhoto")
            .collect()
    }

    /// The statuses answered, in order.
    pub fn statuses(&self) -> Vec<u16> {
        self.requests.iter().map(|r| r.status).collect()
    }

    /// Requests answered with this status.
    pub fn with_status(&self, status: u16) -> Vec<&Received> {
        self.requests
            .iter()
            .filter(|r| r.status == status)
            .collect()
    }

    /// Every token seen in a request path.
    pub fn tokens(&self) -> BTreeSet<String> {
        self.requests
            .iter()
            .filter_map(|r| r.token().map(str::to_string))
            .collect()
    }
}

struct Config {
    token: String,
    chats: BTreeSet<String>,
    faults: FaultScript<()>,
    limits: Limits,
    next_message_id: BTreeMap<String, u64>,
}

/// What the handler shares with the fake's methods.
pub struct Shared {
    config: Mutex<Config>,
    state: watch::Sender<TelegramState>,
}

/// The running fake; stops (and closes every connection) when dropped.
pub type FakeTelegram = Fake<Shared, TelegramState>;

impl FakeTelegram {
    /// A bot with token [`TOKEN`] that knows the chat [`CHAT_ID`].
    pub async fn start() -> FakeTelegram {
        Self::with(TOKEN, &[CHAT_ID]).await
    }

    /// A bot with this token that knows these chats.
    pub async fn with(token: &str, chats: &[&str]) -> FakeTelegram {
        Fake::serve_http(
            FakeListener::bind().await,
            |state| Shared {
                config: Mutex::new(Config {
                    token: token.to_string(),
                    chats: chats.iter().map(|c| c.to_string()).collect(),
                    faults: FaultScript::default(),
                    limits: Limits::default(),
                    next_message_id: BTreeMap::new(),
                }),
                state,
            },
            |_| {},
            handle,
        )
    }

    /// `http://127.0.0.1:PORT`: what `api_base` is set to (the API's default is
    /// `https://api.telegram.org`).
    pub fn api_base(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `http://127.0.0.1:PORT/bot<token>/<method>` with the accepted token.
    pub fn method_url(&self, method: &str) -> String {
        format!("{}/bot{}/{method}", self.api_base(), self.token())
    }

    /// The token accepted.
    pub fn token(&self) -> String {
        self.shared.config.lock().unwrap().token.clone()
    }

    /// Makes `chat_id` a chat the bot is in.
    pub fn add_chat(&self, chat_id: &str) -> &Self {
        self.shared
            .config
            .lock()
            .unwrap()
            .chats
            .insert(chat_id.to_string());
        self
    }

    /// The next `k` requests with the right token get `fault` (after the faults already
    /// scripted are used up).
    pub fn fail_next(&self, k: usize, fault: Fault) -> &Self {
        self.shared
            .config
            .lock()
            .unwrap()
            .faults
            .push((), Some(k), fault);
        self
    }

    /// Every request with the right token gets `fault` for `span` from now.
    pub fn fail_for(&self, span: Duration, fault: Fault) -> &Self {
        self.shared
            .config
            .lock()
            .unwrap()
            .faults
            .push_for((), span, fault);
        self
    }

    /// Drops the scripted faults not used yet.
    pub fn clear_faults(&self) -> &Self {
        self.shared.config.lock().unwrap().faults.clear();
        self
    }

    /// Replaces the limits checked.
    pub fn set_limits(&self, limits: Limits) -> &Self {
        self.shared.config.lock().unwrap().limits = limits;
        self
    }

    /// Limit breaches so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.observed().borrow().violations.clone()
    }

    /// Waits until at least `n` messages (text or photo, any chat) were accepted.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Waited<TelegramState> {
        self.wait_for(timeout, |s| s.messages.len() >= n).await
    }

    /// Waits until at least `n` requests arrived (whatever they were answered).
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Waited<TelegramState> {
        self.wait_for(timeout, |s| s.requests.len() >= n).await
    }
}

/// The token and the API method of a `/bot<token>/<method>` path.
fn bot_call(path: &str) -> Option<(&str, &str)> {
    path.strip_prefix("/bot")?.split_once('/')
}

/// `chat_id` as a string: strings as they are, integers as decimal.
fn chat_id_of(body: &Value) -> Option<String> {
    match &body["chat_id"] {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) if n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

fn error(code: u16, description: &str) -> (u16, Value) {
    (
        code,
        json!({"ok": false, "error_code": code, "description": description}),
    )
}

fn bad_request(description: &str) -> (u16, Value) {
    error(400, &format!("Bad Request: {description}"))
}

/// The text a reader sees and the links, by `parse_mode`; `Err` is the 400 answer.
fn parse_by_mode(text: &str, parse_mode: Option<&str>) -> Result<Parsed, (u16, Value)> {
    match parse_mode {
        None | Some("") => Ok(Parsed {
            text: text.to_string(),
            links: Vec::new(),
        }),
        Some(m) if m.eq_ignore_ascii_case("html") => {
            parse_html(text).map_err(|e| bad_request(&format!("can't parse entities: {e}")))
        }
        // Not validated here: certhound sends HTML.
        Some(m) if m.eq_ignore_ascii_case("markdown") || m.eq_ignore_ascii_case("markdownv2") => {
            Ok(Parsed {
                text: text.to_string(),
                links: Vec::new(),
            })
        }
        Some(_) => Err(bad_request("unsupported parse_mode")),
    }
}

/// What the API answers to `POST /bot<token>/<method>` with this body (no scripted fault), and
/// the message when it is accepted (message id and time filled in by the caller).
fn answer(method: &str, body: &Value, chats: &BTreeSet<String>) -> Result<Message, (u16, Value)> {
    let method = match method.to_ascii_lowercase().as_str() {
        "sendmessage" => "sendMessage",
        "sendphoto" => "sendPhoto",
        _ => return Err(error(404, "Not Found")),
    };
    if !body.is_object() && !body.is_null() {
        return Err(bad_request("parameters must be a JSON object"));
    }
    let chat_id = chat_id_of(body).ok_or_else(|| bad_request("chat_id is empty"))?;
    let parse_mode = body["parse_mode"].as_str();
    let opts = &body["link_preview_options"];
    if !opts.is_null() && !opts.is_object() {
        return Err(bad_request("can't parse link preview options JSON object"));
    }
    let (raw, photo) = if method == "sendMessage" {
        let text = body["text"].as_str().unwrap_or("");
        if text.trim().is_empty() {
            return Err(bad_request("message text is empty"));
        }
        (text.to_string(), None)
    } else {
        let photo = match body["photo"].as_str() {
            Some(p) if !p.trim().is_empty() => p.to_string(),
            _ => return Err(bad_request("there is no photo in the request")),
        };
        if photo.contains("://") && !(photo.starts_with("http://") || photo.starts_with("https://"))
        {
            return Err(bad_request("wrong file identifier/HTTP URL specified"));
        }
        (
            body["caption"].as_str().unwrap_or("").to_string(),
            Some(photo),
        )
    };
    if !chats.contains(&chat_id) {
        return Err(bad_request("chat not found"));
    }
    let parsed = parse_by_mode(&raw, parse_mode)?;
    if method == "sendMessage" {
        if parsed.text.trim().is_empty() {
            return Err(bad_request("message text is empty"));
        }
        if parsed.text.chars().count() > MAX_TEXT_CHARS {
            return Err(bad_request("message is too long"));
        }
    } else if parsed.text.chars().count() > MAX_CAPTION_CHARS {
        return Err(bad_request("message caption is too long"));
    }
    Ok(Message {
        message_id: 0,
        chat_id,
        method: method.to_string(),
        request: 0,
        at: Instant::now(),
        raw,
        text: parsed.text,
        links: parsed.links,
        parse_mode: parse_mode.map(str::to_string),
        photo,
        body: body.clone(),
    })
}

/// The success answer for an accepted message.
fn success(m: &Message) -> Value {
    let chat_type = if m.chat_id.starts_with('-') {
        "group"
    } else {
        "private"
    };
    let chat_id: Value = m
        .chat_id
        .parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(m.chat_id.clone()));
    let date = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut result = json!({
        "message_id": m.message_id,
        "from": {"id": 123, "is_bot": true, "first_name": "certhound", "username": "certhound_bot"},
        "chat": {"id": chat_id, "title": "certhound alerts", "type": chat_type},
        "date": date,
    });
    if m.method == "sendMessage" {
        result["text"] = Value::from(m.text.clone());
    } else {
        result["photo"] = json!([{
            "file_id": format!("AgACAgQAAxk-{}", m.message_id),
            "file_unique_id": format!("AQAD{}", m.message_id),
            "width": 1280, "height": 1024, "file_size": 100_000
        }]);
        if !m.text.is_empty() {
            result["caption"] = Value::from(m.text.clone());
        }
    }
    json!({"ok": true, "result": result})
}

/// Records the breaches of `limits` by the message just accepted (`messages` holds the earlier
/// ones).
fn check_limits(
    limits: &Limits,
    messages: &[Message],
    new: &Message,
    violations: &mut Vec<Violation>,
) {
    let count_since = |window: Duration, same_chat: bool| {
        let window = window.saturating_sub(limits.slack);
        1 + messages
            .iter()
            .filter(|m| !same_chat || m.chat_id == new.chat_id)
            .filter(|m| new.at.saturating_duration_since(m.at) < window)
            .count()
    };
    let mut breach = |limit: Limit, count: usize| {
        violations.push(Violation {
            limit,
            chat_id: new.chat_id.clone(),
            request: new.request,
            count,
            at: new.at,
        })
    };
    let n = count_since(Duration::from_secs(1), true);
    if n > limits.per_chat_per_second {
        breach(Limit::PerChatSecond, n);
    }
    if new.chat_id.starts_with('-') {
        let n = count_since(Duration::from_secs(60), true);
        if n > limits.per_group_per_minute {
            breach(Limit::PerGroupMinute, n);
        }
    }
    let n = count_since(Duration::from_secs(1), false);
    if n > limits.overall_per_second {
        breach(Limit::OverallSecond, n);
    }
}

/// The answer to API method `m` with this body when no fault is scripted; an accepted
/// message gets its id and arrival time and is left in `message`.
fn accept(
    m: &str,
    json: &Value,
    config: &mut Config,
    at: Instant,
    message: &mut Option<Message>,
) -> (u16, Value) {
    match answer(m, json, &config.chats) {
        Ok(mut msg) => {
            let id = config
                .next_message_id
                .entry(msg.chat_id.clone())
                .or_insert(0);
            *id += 1;
            msg.message_id = *id;
            msg.at = at;
            let ok = success(&msg);
            *message = Some(msg);
            (200, ok)
        }
        Err(e) => e,
    }
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Hangup> {
    let request = Recorded::read(req).await;
    let at = request.at;
    let json: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);

    // The lock is held until the request is recorded, so that requests are recorded in the
    // order they were answered.
    let (status, answer, hangup, delay) = {
        let mut config = shared.config.lock().unwrap();
        let answered_at = Instant::now();
        let mut message = None;
        let mut hangup = false;
        let mut delay = None;
        let (status, answer) = match bot_call(&request.path) {
            None => error(404, "Not Found"),
            Some((t, _)) if t != config.token => error(401, "Unauthorized"),
            Some((_, m)) => match config.faults.next(answered_at, |_| true) {
                Some(Fault::TooMany(retry_after)) => (
                    429,
                    json!({
                        "ok": false,
                        "error_code": 429,
                        "description": format!("Too Many Requests: retry after {retry_after}"),
                        "parameters": {"retry_after": retry_after}
                    }),
                ),
                Some(Fault::Status(s)) => error(s, reason(s)),
                Some(Fault::Hangup) => {
                    hangup = true;
                    (0, Value::Null)
                }
                Some(Fault::Delay(d)) => {
                    delay = Some(d);
                    accept(m, &json, &mut config, at, &mut message)
                }
                None => accept(m, &json, &mut config, at, &mut message),
            },
        };
        let limits = config.limits.clone();
        shared.state.send_modify(|s| {
            let n = s.requests.len();
            if let Some(mut msg) = message {
                msg.request = n;
                check_limits(&limits, &s.messages, &msg, &mut s.violations);
                s.messages.push(msg);
            }
            s.requests.push(request.with(
                n,
                Made {
                    answered_at,
                    json,
                    status,
                    answer: answer.clone(),
                },
            ));
        });
        (status, answer, hangup, delay)
    };
    if hangup {
        return Err(Hangup);
    }
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    Ok(Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(answer.to_string())))
        .unwrap())
}

/// Text after entity parsing, and its links.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    /// Tags removed, entities decoded: what the reader sees.
    pub text: String,
    pub links: Vec<Link>,
}

/// Tags of Telegram's HTML style (`span` only as `<span class="tg-spoiler">`, `a` only with
/// `href`). Telegram also takes `ins`, `strike`, `del` (synonyms of `u` and `s`).
const TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "tg-spoiler",
    "span",
    "blockquote",
];

/// Parses `parse_mode: "HTML"` text as Telegram does, strictly: only the tags of [`TAGS`],
/// properly nested and closed; `&lt;`, `&gt;`, `&amp;`, `&quot;` and numeric entities; a `<` that
/// does not start a tag or a `&` that does not start an entity is an error (the API asks for them
/// to be escaped). A raw `>` is taken as text, as the API does. In attribute values entities are
/// decoded and a lone `&` is kept. `Err` is the reason (after "can't parse entities: ").
pub fn parse_html(input: &str) -> Result<Parsed, String> {
    struct Open {
        name: String,
        offset: usize,
        text_start: usize,
        href: Option<String>,
    }
    let bytes = input.as_bytes();
    let mut out = Parsed::default();
    let mut stack: Vec<Open> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' if bytes.get(i + 1) == Some(&b'/') => {
                let end = input[i..]
                    .find('>')
                    .map(|e| i + e)
                    .ok_or_else(|| format!("Unclosed end tag at byte offset {i}"))?;
                let name = input[i + 2..end].trim().to_ascii_lowercase();
                let Some(open) = stack.pop() else {
                    return Err(format!("Unexpected end tag \"{name}\" at byte offset {i}"));
                };
                if open.name != name {
                    return Err(format!(
                        "Unmatched end tag at byte offset {i}, expected \"</{}>\", found \"</{name}>\"",
                        open.name
                    ));
                }
                if let Some(href) = open.href {
                    out.links.push(Link {
                        href,
                        text: out.text[open.text_start..].to_string(),
                    });
                }
                i = end + 1;
            }
            b'<' => {
                let offset = i;
                let mut j = i + 1;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'-') {
                    j += 1;
                }
                let name = input[i + 1..j].to_ascii_lowercase();
                if !TAGS.contains(&name.as_str()) {
                    return Err(format!(
                        "Unsupported start tag \"{name}\" at byte offset {offset}"
                    ));
                }
                let mut attrs: Vec<(String, String)> = Vec::new();
                loop {
                    while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    match bytes.get(j) {
                        None => return Err(format!("Unclosed start tag at byte offset {offset}")),
                        Some(b'>') => {
                            j += 1;
                            break;
                        }
                        _ => {}
                    }
                    let a = j;
                    while j < bytes.len()
                        && (bytes[j].is_ascii_alphanumeric()
                            || bytes[j] == b'-'
                            || bytes[j] == b'_')
                    {
                        j += 1;
                    }
                    if a == j {
                        return Err(format!(
                            "Empty attribute name in the tag \"{name}\" at byte offset {offset}"
                        ));
                    }
                    let attr = input[a..j].to_ascii_lowercase();
                    while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    if bytes.get(j) != Some(&b'=') {
                        // A valueless attribute (`<blockquote expandable>`).
                        attrs.push((attr, String::new()));
                        continue;
                    }
                    j += 1;
                    while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    let value = match bytes.get(j) {
                        Some(&q) if q == b'"' || q == b'\'' => {
                            let close = input[j + 1..].find(q as char).ok_or_else(|| {
                                format!("Unclosed start tag at byte offset {offset}")
                            })?;
                            let v = &input[j + 1..j + 1 + close];
                            j += close + 2;
                            v
                        }
                        _ => {
                            let a = j;
                            while j < bytes.len()
                                && !bytes[j].is_ascii_whitespace()
                                && bytes[j] != b'>'
                            {
                                j += 1;
                            }
                            &input[a..j]
                        }
                    };
                    attrs.push((attr, decode_entities_lenient(value)));
                }
                let attr = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                let href = if name == "a" {
                    match attr("href") {
                        Some(h) if !h.is_empty() => Some(h),
                        _ => {
                            return Err(format!(
                                "Tag \"a\" at byte offset {offset} must have an href attribute"
                            ))
                        }
                    }
                } else {
                    None
                };
                if name == "span" && attr("class").as_deref() != Some("tg-spoiler") {
                    return Err(format!(
                        "Tag \"span\" must have class \"tg-spoiler\" at byte offset {offset}"
                    ));
                }
                stack.push(Open {
                    name,
                    offset,
                    text_start: out.text.len(),
                    href,
                });
                i = j;
            }
            b'&' => {
                let (c, len) = entity_at(&input[i..]).ok_or_else(|| {
                    format!(
                        "Character '&' at byte offset {i} does not start an entity; \
                         it must be escaped as &amp;"
                    )
                })?;
                out.text.push(c);
                i += len;
            }
            _ => {
                let c = input[i..].chars().next().unwrap();
                out.text.push(c);
                i += c.len_utf8();
            }
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\" at byte offset {}",
            open.name, open.offset
        ));
    }
    Ok(out)
}

/// The entity at the start of `s` (which starts with `&`): its character and byte length.
fn entity_at(s: &str) -> Option<(char, usize)> {
    let semi = s[1..].find(';').filter(|&e| e <= 10)? + 1;
    let name = &s[1..semi];
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let n = name.strip_prefix('#')?;
            let code = match n.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => n.parse::<u32>().ok()?,
            };
            char::from_u32(code).filter(|&c| c != '\0')?
        }
    };
    Some((c, semi + 1))
}

/// Decodes the entities of an attribute value; a `&` that starts none is kept.
fn decode_entities_lenient(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s.as_bytes()[i] == b'&' {
            if let Some((c, len)) = entity_at(&s[i..]) {
                out.push(c);
                i += len;
                continue;
            }
        }
        let c = s[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Escapes text for `parse_mode: "HTML"` (`<`, `>`, `&`, `"`).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::assert_times_out;

    const T: Duration = Duration::from_secs(10);

    struct Answer {
        status: u16,
        json: Value,
    }

    async fn post(client: &reqwest::Client, url: &str, body: Value) -> Answer {
        let resp = client.post(url).json(&body).send().await.unwrap();
        let status = resp.status().as_u16();
        let json = resp.json().await.unwrap_or(Value::Null);
        Answer { status, json }
    }

    fn msg(text: &str) -> Value {
        json!({"chat_id": CHAT_ID, "text": text, "parse_mode": "HTML",
               "link_preview_options": {"is_disabled": true}})
    }

    fn assert_bad(a: &Answer, description: &str) {
        assert_eq!(a.status, 400, "{}", a.json);
        assert_eq!(
            a.json,
            json!({"ok": false, "error_code": 400, "description": description})
        );
    }

    #[tokio::test]
    async fn accepts_a_message_and_records_it() {
        let tg = FakeTelegram::start().await;
        let client = reqwest::Client::new();
        let text = "<b>paypal-x.com</b> &lt;a href=x&gt;&amp;&quot; <a href=\"https://urlscan.io/result/1/\">result</a>";
        let a = post(&client, &tg.method_url("sendMessage"), msg(text)).await;
        assert_eq!(a.status, 200, "{}", a.json);
        assert_eq!(a.json["ok"], true);
        assert_eq!(a.json["result"]["message_id"], 1);
        assert_eq!(a.json["result"]["chat"]["id"], -1001234);
        assert_eq!(a.json["result"]["chat"]["type"], "group");
        assert!(a.json["result"]["date"].as_u64().is_some_and(|d| d > 0));
        let plain = "paypal-x.com <a href=x>&\" result";
        assert_eq!(a.json["result"]["text"], plain);
        // A numeric chat id is the same chat.
        let mut second = msg("two");
        second["chat_id"] = json!(-1001234);
        let a = post(&client, &tg.method_url("sendMessage"), second).await;
        assert_eq!(a.json["result"]["message_id"], 2, "{}", a.json);

        let s = tg.wait_for_messages(2, T).await.unwrap();
        assert_eq!(s.requests.len(), 2);
        let r = &s.requests[0];
        assert_eq!(r.method, "POST");
        assert_eq!(r.token(), Some(TOKEN));
        assert_eq!(r.api_method(), Some("sendMessage"));
        assert_eq!(r.chat_id().as_deref(), Some(CHAT_ID));
        assert!(r
            .header("content-type")
            .unwrap()
            .starts_with("application/json"));
        assert!(r.answered_at >= r.at);
        let m = &s.messages_in(CHAT_ID)[0];
        assert_eq!(m.text, plain);
        assert_eq!(m.raw, text);
        assert!(m.shows("<a href=x>&\""));
        assert!(m.link_preview_disabled());
        assert_eq!(
            m.links,
            [Link {
                href: "https://urlscan.io/result/1/".into(),
                text: "result".into()
            }]
        );
        assert_eq!(s.text_messages().len(), 2);
        assert_eq!(s.messages_in(CHAT_ID)[1].text, "two");
        assert_times_out(tg.wait_for_messages(3, Duration::from_millis(50))).await;
    }

    #[tokio::test]
    async fn send_photo_with_a_caption() {
        let tg = FakeTelegram::start().await;
        let client = reqwest::Client::new();
        let url = tg.method_url("sendPhoto");
        let a = post(
            &client,
            &url,
            json!({"chat_id": CHAT_ID, "photo": "https://urlscan.io/screenshots/1.png",
                   "caption": "<i>paypal-x.com</i>", "parse_mode": "HTML"}),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.json);
        assert_eq!(a.json["result"]["caption"], "paypal-x.com");
        assert!(a.json["result"]["photo"].is_array());
        let a = post(&client, &url, json!({"chat_id": CHAT_ID})).await;
        assert_bad(&a, "Bad Request: there is no photo in the request");
        let long = "x".repeat(MAX_CAPTION_CHARS + 1);
        let a = post(
            &client,
            &url,
            json!({"chat_id": CHAT_ID, "photo": "https://e.example/1.png", "caption": long}),
        )
        .await;
        assert_bad(&a, "Bad Request: message caption is too long");
        let s = tg.state();
        assert_eq!(s.photos().len(), 1);
        assert_eq!(
            s.photos()[0].photo.as_deref(),
            Some("https://urlscan.io/screenshots/1.png")
        );
    }

    #[tokio::test]
    async fn wrong_token_is_401_and_other_paths_404() {
        let tg = FakeTelegram::start().await;
        let client = reqwest::Client::new();
        let url = format!("{}/bot123:WRONG/sendMessage", tg.api_base());
        let a = post(&client, &url, msg("hi")).await;
        assert_eq!(a.status, 401);
        assert_eq!(
            a.json,
            json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
        );
        let a = post(
            &client,
            &format!("{}/sendMessage", tg.api_base()),
            msg("hi"),
        )
        .await;
        assert_eq!(a.status, 404);
        let a = post(&client, &tg.method_url("sendSticker"), msg("hi")).await;
        assert_eq!(a.status, 404);
        let s = tg.state();
        assert_eq!(s.statuses(), [401, 404, 404]);
        assert!(s.messages.is_empty());
        assert_eq!(
            s.tokens(),
            ["123:WRONG".to_string(), TOKEN.to_string()].into()
        );
    }

    #[tokio::test]
    async fn bad_requests_are_400_with_telegrams_descriptions() {
        let tg = FakeTelegram::start().await;
        let client = reqwest::Client::new();
        let url = tg.method_url("sendMessage");
        assert_bad(
            &post(&client, &url, json!({"text": "hi"})).await,
            "Bad Request: chat_id is empty",
        );
        assert_bad(
            &post(&client, &url, json!({"chat_id": CHAT_ID})).await,
            "Bad Request: message text is empty",
        );
        assert_bad(
            &post(&client, &url, msg("")).await,
            "Bad Request: message text is empty",
        );
        let mut other_chat = msg("hi");
        other_chat["chat_id"] = json!("-100999");
        assert_bad(
            &post(&client, &url, other_chat).await,
            "Bad Request: chat not found",
        );
        let long = "a".repeat(MAX_TEXT_CHARS + 1);
        assert_bad(
            &post(&client, &url, msg(&long)).await,
            "Bad Request: message is too long",
        );
        // The limit is on the text after entity parsing: 4096 characters of `&lt;` are fine.
        let at_limit = "&lt;".repeat(MAX_TEXT_CHARS);
        assert_eq!(post(&client, &url, msg(&at_limit)).await.status, 200);
        let mut mode = msg("hi");
        mode["parse_mode"] = json!("XML");
        assert_bad(
            &post(&client, &url, mode).await,
            "Bad Request: unsupported parse_mode",
        );
        let s = tg.state();
        assert_eq!(s.messages.len(), 1);
        assert_eq!(
            s.with_status(400)
                .iter()
                .filter_map(|r| r.description())
                .filter(|d| d.contains("chat not found"))
                .count(),
            1
        );
    }

    #[tokio::test]
    async fn html_is_validated() {
        let tg = FakeTelegram::start().await;
        let client = reqwest::Client::new();
        let url = tg.method_url("sendMessage");
        // Escaped markup is text.
        let a = post(&client, &url, msg("issuer: &lt;a href=x&gt;&amp;\"login")).await;
        assert_eq!(a.status, 200, "{}", a.json);
        assert_eq!(a.json["result"]["text"], "issuer: <a href=x>&\"login");
        // A raw tag that is never closed.
        let a = post(&client, &url, msg("issuer: <a href=x>&\"login")).await;
        assert_eq!(a.status, 400, "{}", a.json);
        let d = a.json["description"].as_str().unwrap();
        assert!(d.starts_with("Bad Request: can't parse entities: "), "{d}");
        for bad in [
            "<b>bold",
            "<b><i>x</b></i>",
            "x</b>",
            "<script>x</script>",
            "<font color=red>x</font>",
            "1 < 2",
            "AT&T",
            "&nbsp;",
            "<a>no href</a>",
            "<span>x</span>",
            "<b",
        ] {
            let a = post(&client, &url, msg(&format!("ok {bad}"))).await;
            assert_eq!(a.status, 400, "{bad}: {}", a.json);
            assert!(
                a.json["description"]
                    .as_str()
                    .unwrap()
                    .starts_with("Bad Request: can't parse entities: "),
                "{bad}: {}",
                a.json
            );
        }
        for good in [
            "<b>b</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <s>s</s>",
            "<code>c</code> <pre>p</pre> <pre><code class=\"language-rust\">x</code></pre>",
            "<tg-spoiler>x</tg-spoiler> <span class=\"tg-spoiler\">y</span>",
            "<blockquote>q</blockquote> <blockquote expandable>q</blockquote>",
            "<a href='https://e.example/?a=1&amp;b=2'>l</a> 2 > 1 &#60; &#x3C;",
            "<B>upper</B>",
        ] {
            let a = post(&client, &url, msg(good)).await;
            assert_eq!(a.status, 200, "{good}: {}", a.json);
        }
        // Without parse_mode the same characters are plain text.
        let a = post(
            &client,
            &url,
            json!({"chat_id": CHAT_ID, "text": "<a href=x>&"}),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.json);
        assert_eq!(a.json["result"]["text"], "<a href=x>&");

        let p = parse_html("<a href=\"https://e.example/?a=1&amp;b=2\">x &amp; y</a>").unwrap();
        assert_eq!(p.text, "x & y");
        assert_eq!(p.links[0].href, "https://e.example/?a=1&b=2");
        assert_eq!(
            parse_html(&escape_html("paypal-<a href=x>&\"login.example"))
                .unwrap()
                .text,
            "paypal-<a href=x>&\"login.example"
        );
        assert!(parse_html("<b><i>x</b></i>")
            .unwrap_err()
            .contains("expected \"</i>\", found \"</b>\""));
    }

    #[tokio::test]
    async fn scripted_429_then_500_then_hangup_then_accepted() {
        let tg = FakeTelegram::start().await;
        tg.fail_next(2, Fault::too_many(1))
            .fail_next(1, Fault::Status(500))
            .fail_next(1, Fault::Hangup);
        let client = reqwest::Client::new();
        let url = tg.method_url("sendMessage");
        // A wrong token is refused before any scripted fault is used.
        let wrong = format!("{}/bot1:X/sendMessage", tg.api_base());
        assert_eq!(post(&client, &wrong, msg("hi")).await.status, 401);
        for _ in 0..2 {
            let a = post(&client, &url, msg("hi")).await;
            assert_eq!(a.status, 429);
            assert_eq!(
                a.json,
                json!({"ok": false, "error_code": 429,
                       "description": "Too Many Requests: retry after 1",
                       "parameters": {"retry_after": 1}})
            );
        }
        let a = post(&client, &url, msg("hi")).await;
        assert_eq!(a.status, 500);
        assert_eq!(a.json["error_code"], 500);
        assert!(client.post(&url).json(&msg("hi")).send().await.is_err());
        assert_eq!(post(&client, &url, msg("hi")).await.status, 200);
        let s = tg.state();
        assert_eq!(s.statuses(), [401, 429, 429, 500, 0, 200]);
        assert_eq!(s.messages.len(), 1);
        assert_eq!(s.messages[0].request, 5);
    }

    #[tokio::test]
    async fn fault_for_a_span() {
        let tg = FakeTelegram::start().await;
        tg.fail_for(Duration::from_secs(3600), Fault::too_many(5));
        let client = reqwest::Client::new();
        let url = tg.method_url("sendMessage");
        for _ in 0..3 {
            let a = post(&client, &url, msg("hi")).await;
            assert_eq!(a.json["parameters"]["retry_after"], 5);
        }
        tg.clear_faults();
        assert_eq!(post(&client, &url, msg("hi")).await.status, 200);
        tg.fail_for(Duration::ZERO, Fault::Status(500));
        assert_eq!(post(&client, &url, msg("hi")).await.status, 200);
    }

    #[tokio::test]
    async fn rate_violations_are_recorded_not_rejected() {
        let tg = FakeTelegram::with(TOKEN, &[CHAT_ID, "-1005678"]).await;
        tg.set_limits(Limits {
            per_group_per_minute: 3,
            slack: Duration::from_millis(50),
            ..Limits::default()
        });
        let client = reqwest::Client::new();
        let url = tg.method_url("sendMessage");
        assert_eq!(post(&client, &url, msg("1")).await.status, 200);
        // At once to another chat: fine.
        let mut other = msg("a");
        other["chat_id"] = json!("-1005678");
        assert_eq!(post(&client, &url, other).await.status, 200);
        assert!(tg.violations().is_empty());
        // At once to the same chat: accepted, recorded.
        assert_eq!(post(&client, &url, msg("2")).await.status, 200);
        let v = tg.violations();
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].limit, Limit::PerChatSecond);
        assert_eq!(v[0].chat_id, CHAT_ID);
        assert_eq!(v[0].request, 2);
        assert_eq!(v[0].count, 2);
        // Past the per-minute limit of the group too.
        assert_eq!(post(&client, &url, msg("3")).await.status, 200);
        assert_eq!(post(&client, &url, msg("4")).await.status, 200);
        let limits: Vec<Limit> = tg.violations().iter().map(|v| v.limit).collect();
        assert_eq!(
            limits,
            [
                Limit::PerChatSecond,
                Limit::PerChatSecond,
                Limit::PerChatSecond,
                Limit::PerGroupMinute
            ]
        );
        assert_eq!(tg.state().messages_in(CHAT_ID).len(), 4);
    }

    #[test]
    fn limits_count_a_window_with_slack() {
        let limits = Limits::default();
        let t0 = Instant::now();
        let m = |i: usize, at: Instant| Message {
            message_id: i as u64,
            chat_id: CHAT_ID.into(),
            method: "sendMessage".into(),
            request: i,
            at,
            raw: String::new(),
            text: String::new(),
            links: Vec::new(),
            parse_mode: None,
            photo: None,
            body: Value::Null,
        };
        let earlier = [m(0, t0)];
        let mut v = Vec::new();
        // 0.85 s later: within the slack of 200 ms, not a breach.
        check_limits(
            &limits,
            &earlier,
            &m(1, t0 + Duration::from_millis(850)),
            &mut v,
        );
        assert!(v.is_empty(), "{v:?}");
        check_limits(
            &limits,
            &earlier,
            &m(1, t0 + Duration::from_millis(700)),
            &mut v,
        );
        assert_eq!(v.len(), 1);
    }
}
