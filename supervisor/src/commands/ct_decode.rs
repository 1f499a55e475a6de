//! `certhound ct decode`: the certstream message of one CT entry, as the server role would
//! publish it (without `seq`), for checking what certhound makes of a certificate.

use crate::exit::Exit;
use base64::Engine;
use certhound_actors::ct::cert::{Encoder, LogSource};
use certhound_actors::ct::leaf;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Form {
    Full,
    Lite,
    Domains,
}

pub struct Args<'a> {
    pub leaf_input: &'a str,
    pub extra_data: Option<&'a str>,
    pub form: Form,
    pub index: u64,
    pub log_url: &'a str,
    pub log_name: &'a str,
}

/// Prints the message on stdout; exit 0, or 1 with one line on stderr saying what is wrong.
pub fn run(a: Args) -> Exit {
    let b64 = base64::engine::general_purpose::STANDARD;
    let Ok(leaf_input) = b64.decode(a.leaf_input.trim()) else {
        eprintln!("certhound: --leaf-input is not base64");
        return Exit::Failure;
    };
    let extra_data = match a.extra_data.map(|x| b64.decode(x.trim())) {
        None => Vec::new(),
        Some(Ok(x)) => x,
        Some(Err(_)) => {
            eprintln!("certhound: --extra-data is not base64");
            return Exit::Failure;
        }
    };
    let entry = match leaf::parse_entry(&leaf_input, &extra_data, a.index) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("certhound: cannot decode the entry: {e}");
            return Exit::Failure;
        }
    };
    let source = LogSource {
        name: a.log_name.to_string(),
        url: a.log_url.to_string(),
    };
    let mut link = String::new();
    certhound_actors::ct::write_rfc6962_link(&mut link, a.log_url, a.index);
    let seen = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    match Encoder::new(16).encode(&entry, &source, &link, seen) {
        Ok(m) => {
            let bytes = match a.form {
                Form::Full => m.full,
                Form::Lite => m.lite,
                Form::Domains => m.domains,
            };
            println!("{}", String::from_utf8_lossy(&bytes));
            Exit::Ok
        }
        Err(e) => {
            eprintln!("certhound: cannot decode the certificate: {e}");
            Exit::Failure
        }
    }
}
