//! STUB
use super::hub::Hub;
use certhound_config::ServerConfig;
pub async fn serve(
    _l: tokio::net::TcpListener,
    _h: Hub,
    _c: ServerConfig,
    _s: tokio_util::sync::CancellationToken,
) {
}
