//! moto, the AWS mock, as a real server on loopback for SNS and Secrets Manager: started per
//! test (`moto_server` from `MOTO_SERVER`, the CI venv `target/ci-venv/bin`, or `PATH`), set up
//! through its HTTP API, and read back from `GET /moto-api/data.json`.

use serde_json::Value;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    port: u16,
    http: reqwest::Client,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn moto_bin() -> PathBuf {
    if let Ok(p) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ci-venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("moto_server")
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    pub async fn start() -> Moto {
        let port = free_port();
        let mut command = Command::new(moto_bin());
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        Moto::start_with(command, port).await
    }

    /// Starts moto handling one request at a time (`tests/moto/serial_moto.py`), for DynamoDB:
    /// moto's DynamoDB fails concurrent transactions with HTTP 500 (a race inside moto), where
    /// the real service serialises them. Run by the python beside `moto_server`.
    pub async fn start_serialised() -> Moto {
        let port = free_port();
        let bin = moto_bin();
        let python = match bin.parent() {
            Some(dir) if dir.join("python").exists() => dir.join("python"),
            _ => PathBuf::from("python3"),
        };
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("moto/serial_moto.py");
        let mut command = Command::new(python);
        command.arg(script).args(["127.0.0.1", &port.to_string()]);
        Moto::start_with(command, port).await
    }

    async fn start_with(mut command: Command, port: u16) -> Moto {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start moto_server ({e}): run `bash .ci/run` once, or pip install 'moto[server]'"
                )
            });
        let moto = Moto {
            child,
            port,
            http: reqwest::Client::new(),
        };
        // moto gives no readiness signal: try its API until it answers (bounded).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if moto.data().await.is_ok() {
                return moto;
            }
            assert!(Instant::now() < deadline, "moto_server did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything moto holds (`GET /moto-api/data.json`).
    pub async fn data(&self) -> Result<Value, String> {
        let r = self
            .http
            .get(format!("{}/moto-api/data.json", self.endpoint()))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        r.json().await.map_err(|e| e.to_string())
    }

    /// Creates an SNS topic; returns its ARN.
    pub async fn create_topic(&self, name: &str) -> String {
        let body = self
            .http
            .post(self.endpoint())
            .header("Authorization", auth("sns"))
            .form(&[
                ("Action", "CreateTopic"),
                ("Name", name),
                ("Version", "2010-03-31"),
            ])
            .send()
            .await
            .expect("CreateTopic")
            .text()
            .await
            .unwrap();
        let start = body.find("<TopicArn>").expect("TopicArn") + "<TopicArn>".len();
        let end = body.find("</TopicArn>").unwrap();
        body[start..end].to_string()
    }

    /// Creates a secret with a JSON string value.
    pub async fn create_secret(&self, name: &str, value: &Value) {
        self.secretsmanager(
            "CreateSecret",
            serde_json::json!({"Name": name, "SecretString": value.to_string()}),
        )
        .await;
    }

    /// Replaces a secret's value (a rotation).
    pub async fn put_secret(&self, name: &str, value: &Value) {
        self.secretsmanager(
            "PutSecretValue",
            serde_json::json!({"SecretId": name, "SecretString": value.to_string()}),
        )
        .await;
    }

    /// One Secrets Manager call (`action`, e.g. `CreateSecret`, with its JSON `request`), which
    /// must succeed.
    async fn secretsmanager(&self, action: &str, request: Value) {
        let r = self
            .http
            .post(self.endpoint())
            .header("Authorization", auth("secretsmanager"))
            .header("X-Amz-Target", format!("secretsmanager.{action}"))
            .header("Content-Type", "application/x-amz-json-1.1")
            .body(request.to_string())
            .send()
            .await
            .expect(action);
        assert!(r.status().is_success(), "{action}: {}", r.status());
    }

    /// What SNS "sent": (message, subject, attributes) per publish, over all topics.
    pub async fn sent_notifications(&self) -> Vec<(String, Option<String>, Value)> {
        let data = self.data().await.unwrap_or_default();
        let mut out = Vec::new();
        let topics = data["sns"]["Topic"].as_array().cloned().unwrap_or_default();
        for t in topics {
            for n in t["sent_notifications"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                out.push((
                    n[1].as_str().unwrap_or_default().to_string(),
                    n[2].as_str().map(str::to_string),
                    n[3].clone(),
                ));
            }
        }
        out
    }

    /// Environment for a certhound child talking to this moto.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), "test".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }
}

/// moto routes by the credential scope of a SigV4 header; it does not check the signature.
fn auth(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
