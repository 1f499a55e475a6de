//! The one-shot commands, one file each: they read the config, do one thing and exit with an
//! [`Exit`](crate::exit::Exit) code. The long-running ones (`watch`, `server`, `run`, `replay`)
//! are the [roles](crate::roles).

pub mod ct_decode;
pub mod eval;
pub mod explain;
pub mod findings;
pub mod health;
pub mod lookup;
pub mod test_notify;

/// The single-threaded runtime of a command (or of the secrets read before a role starts) that
/// makes a few requests and ends.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}
