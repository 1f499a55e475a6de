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
