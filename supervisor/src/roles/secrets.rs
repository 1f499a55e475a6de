//! Secrets: read from AWS Secrets Manager before anything starts (with the AWS SDK config that
//! SNS also needs), checked for the channels that need them, and read again every
//! `secrets.refresh` so that a rotated token or key is used without a restart. A secret's value
//! never reaches a log or an error: errors name the secret and its key.

use crate::exit::Exit;
use certhound_config::{Config, SecretKind, SecretsConfig, SharedSecret};

/// Loads the AWS SDK configuration when SNS or Secrets Manager is used, and fills the config's
/// secrets from Secrets Manager. Errors name the secret and key, never a value.
fn load_aws(cfg: &mut Config) -> Result<Option<aws_config::SdkConfig>, String> {
    let refs: Vec<(SecretKind, certhound_config::SecretRef)> = cfg
        .secrets
        .refs()
        .into_iter()
        .map(|(k, r)| (k, r.clone()))
        .collect();
    if refs.is_empty() && cfg.notify.sns.is_none() {
        return Ok(None);
    }
    let rt = crate::commands::runtime()?;
    let aws = cfg.aws.clone();
    rt.block_on(async {
        let sdk = certhound_actors::aws::sdk_config(&aws).await;
        if !refs.is_empty() {
            let client = aws_sdk_secretsmanager::Client::new(&sdk);
            for (key, r) in refs {
                let value = certhound_actors::aws::read_secret(&client, &r)
                    .await
                    .map_err(|e| format!("{key}: {e}"))?;
                match key {
                    SecretKind::TelegramToken | SecretKind::TelegramChatId => {
                        let t = cfg.notify.telegram.as_mut().ok_or_else(|| {
                            format!("{key} is set but there is no [notify.telegram]")
                        })?;
                        if key == SecretKind::TelegramToken {
                            t.token = Some(certhound_config::Secret::new(value));
                        } else {
                            t.chat_id = Some(value);
                        }
                    }
                    SecretKind::UrlscanApiKey => {
                        cfg.urlscan.api_key = Some(certhound_config::Secret::new(value))
                    }
                    SecretKind::AdminToken => {
                        cfg.admin.token = Some(certhound_config::Secret::new(value))
                    }
                }
                tracing::info!(secret = key.key(), "secret loaded");
            }
        }
        Ok(Some(sdk))
    })
}

/// Secrets from AWS Secrets Manager, and the AWS SDK for SNS: before anything starts, so that a
/// missing secret or a channel without its credentials stops the start with a clear error.
/// `Err` is the exit code.
pub fn prepare_notify(cfg: &mut Config) -> Result<Option<aws_config::SdkConfig>, Exit> {
    let sdk = match load_aws(cfg) {
        Ok(sdk) => sdk,
        Err(e) => {
            eprintln!("certhound: {e}");
            return Err(Exit::Config);
        }
    };
    if let Some(t) = &cfg.notify.telegram {
        for (key, missing) in [
            ("notify.telegram.token", t.token.is_none()),
            ("notify.telegram.chat_id", t.chat_id.is_none()),
        ] {
            if missing {
                eprintln!(
                    "certhound: config key `{key}`: not set (in the file, as CERTHOUND_{}, or from [secrets])",
                    key.to_uppercase().replace('.', "__")
                );
                return Err(Exit::Config);
            }
        }
    }
    Ok(sdk)
}

/// Reads the secrets again every `secrets.refresh`, so that a rotated token or key is used
/// without a restart. A failed read keeps the value in use (and says so); values never reach a
/// log.
pub async fn refresh_secrets(
    cfg: SecretsConfig,
    sdk: aws_config::SdkConfig,
    telegram_token: Option<SharedSecret>,
    urlscan_key: Option<SharedSecret>,
    admin_token: Option<SharedSecret>,
) {
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    loop {
        tokio::time::sleep(cfg.refresh).await;
        for (key, r) in cfg.refs() {
            let cell = match key {
                SecretKind::TelegramToken => telegram_token.as_ref(),
                SecretKind::UrlscanApiKey => urlscan_key.as_ref(),
                SecretKind::AdminToken => admin_token.as_ref(),
                SecretKind::TelegramChatId => None, // read at start only
            };
            let Some(cell) = cell else { continue };
            match certhound_actors::aws::read_secret(&client, r).await {
                Ok(v) => {
                    if cell.set(certhound_config::Secret::new(v)) {
                        tracing::info!(secret = key.key(), "secret changed; using the new value");
                    }
                }
                Err(e) => {
                    tracing::warn!(secret = key.key(), error = %e, "cannot refresh a secret; keeping the one in use")
                }
            }
        }
    }
}
