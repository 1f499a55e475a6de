//! certhound's actors and the pieces they are made of.
//!
//! Watch role ([`watch`]), in the order a certificate travels:
//! - [`watch::feed`]: the websocket connection to a certstream server (or [`watch::replay`]
//!   from a file);
//! - [`watch::matcher`]: parses ([`certstream`]), normalises ([`normalise`]), matches
//!   ([`rules`]) and dedupes ([`watch::dedupe`]) into [`finding::Finding`]s;
//! - [`watch::recorder`]: commits findings to the [`store`] (the outbox) before they count as
//!   done;
//! - the stages that work a queue of the store, each in the [`watch::stage`] shell and handing
//!   findings on along a [`watch::stage::Route`]: [`enrich`] (registration lookups), [`scan`]
//!   (urlscan), and [`watch::delivery`], one per channel, with its [`notify`]er.
//!
//! Server role: [`ct`] (CT log watchers, decoding) and [`server`] (the certstream feed).
//!
//! Each finding has a trace across all of them ([`trace`]).
//!
//! Actors reach each other through [`slot::Slot`]s, which follow restarts by the supervisor.

pub mod aws;
pub mod backoff;
pub mod certstream;
pub mod ct;
pub mod dates;
pub mod enrich;
pub mod finding;
mod fold_table;
mod http;
pub mod metrics;
pub mod normalise;
pub mod notify;
pub mod rules;
pub mod scan;
pub mod server;
pub mod slot;
pub mod store;
pub mod trace;
pub mod tuning;
pub mod watch;
