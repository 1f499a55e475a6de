//! The watch role's pipeline, in the order a certificate travels: [`feed`] (the websocket
//! connection to a certstream server) or [`replay`] (a file), the [`matcher`] (with its
//! [`dedupe`] set), the [`recorder`] that commits findings to the store, and the stages that
//! work the store's queues, each in the [`stage`] shell: enrichment ([`crate::enrich`]),
//! urlscan ([`crate::scan`]) and [`delivery`], one per channel with its
//! [`notifier`](crate::notify).
//!
//! The components with several files of their own (enrichment, urlscan, notifiers) are folders
//! beside this one, as the server role's CT watchers ([`crate::ct`]) and feed
//! ([`crate::server`]) are.

pub mod dedupe;
pub mod delivery;
pub mod feed;
pub mod matcher;
pub mod recorder;
pub mod replay;
pub mod stage;
