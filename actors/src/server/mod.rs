//! The server role's certstream-compatible websocket feed.
//!
//! - [`hub`]: numbers published messages (`seq`), keeps the last `server.history` of them and
//!   hands each to every client's bounded queue without ever waiting (slow clients are cut off);
//! - [`listener`]: accepts TCP connections, parses the HTTP request head itself, answers the plain
//!   GETs (`/example.json`, `/latest.json`) and runs one task per websocket client.
//!
//! Paths, as CaliDog's server: `/` (lite), `/full-stream`, `/domains-only` (each also with a
//! trailing `/`). `?since=S` asks for every message with seq > S first (see [`hub`] for the `gap`
//! notice sent when that is not possible).

pub mod hub;
pub mod listener;

pub use hub::{Form, Hub, Published, Subscription};
pub use listener::serve;
