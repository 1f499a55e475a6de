//! The two roles and what runs them: the watch role's pipeline (`watch`, with its delivery
//! channels and secrets), the server role (`server`), and what both share while running: the
//! admin listener (`admin`: metrics, health) and the reloads of the config file (`reload`).
//! `certhound run` is both roles in one process (`watch` starts `server`).

pub mod admin;
pub mod channels;
pub mod reload;
pub mod secrets;
pub mod server;
pub mod watch;

use certhound_actors::store::Store;

/// The end of a role, after its actor system returned: closes the store cleanly. Every actor
/// holding it must be gone first (the system's on drop, the other arbiters' once their threads
/// end). An unclean close is safe (redb repairs it on the next start) but makes the next start
/// slower and read-only opens fail until then. On DynamoDB closing gives up the task's slot, so
/// that its next start need not wait for the slot's lease.
pub(crate) fn close(system: actix_rt::SystemRunner, threads: Vec<actix_rt::Arbiter>, store: Store) {
    drop(system);
    for t in threads {
        t.stop();
        let _ = t.join();
    }
    store.close();
    drop(store);
}
