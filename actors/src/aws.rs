//! AWS: the SDK configuration (standard credential chain, region and endpoint from `[aws]`) and
//! secrets from Secrets Manager.

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use certhound_config::{AwsConfig, SecretRef};

/// The SDK configuration: credentials from the standard chain (env, profile, the ECS task role),
/// region and endpoint from `[aws]` when set.
pub async fn sdk_config(cfg: &AwsConfig) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(r) = &cfg.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(e) = &cfg.endpoint_url {
        loader = loader.endpoint_url(e.clone());
    }
    loader.load().await
}

/// Reads `"<secret id>#<JSON key>"` from Secrets Manager. The error names the secret and key,
/// never the value.
pub async fn read_secret(
    client: &aws_sdk_secretsmanager::Client,
    r: &SecretRef,
) -> Result<String, String> {
    let (id, key) = r
        .parts()
        .ok_or_else(|| format!("`{}` is not \"<secret id>#<JSON key>\"", r.0))?;
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot read secret `{id}`: {}",
                e.code()
                    .map(str::to_string)
                    .unwrap_or_else(|| "request failed".into())
            )
        })?;
    let text = out
        .secret_string()
        .ok_or_else(|| format!("secret `{id}` has no string value"))?;
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| format!("secret `{id}` is not a JSON object of keys"))?;
    match &v[key] {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        _ => Err(format!("secret `{id}` has no key `{key}`")),
    }
}
