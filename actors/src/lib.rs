//! certhound's actors and the pieces they are made of.
//!
//! Watch role, in the order a certificate travels:
//! - [`feed`]: the websocket connection to a certstream server (or [`replay`] from a file);
//! - [`matcher`]: parses ([`certstream`]), normalises ([`normalise`]), matches ([`rules`]) and
//!   dedupes ([`dedupe`]) into [`finding::Finding`]s;
//! - [`recorder`]: commits findings to the [`store`] (the outbox) before they count as done;
//! - the stages that work a queue of the store, each in the [`stage`] shell and handing
//!   findings on along a [`stage::Route`]: [`enrich`] (registration lookups), [`scan`]
//!   (urlscan), and [`delivery`], one per channel, with its [`notify`]er.
//!
//! Each finding has a trace across all of them ([`trace`]).
//!
//! Actors reach each other through [`slot::Slot`]s, which follow restarts by the supervisor.

pub mod aws;
pub mod backoff;
pub mod certstream;
pub mod ct;
pub mod dedupe;
pub mod delivery;
pub mod enrich;
pub mod feed;
pub mod finding;
mod fold_table;
pub mod matcher;
pub mod metrics;
pub mod normalise;
pub mod notify;
pub mod recorder;
pub mod replay;
pub mod rules;
pub mod scan;
pub mod server;
pub mod slot;
pub mod stage;
pub mod store;
pub mod trace;
pub mod tuning;
