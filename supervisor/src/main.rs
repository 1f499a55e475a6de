//! `certhound`: watches Certificate Transparency for phishing domains.
//!
//! This file is the command line: it loads the config (exit code 2 on any config error, with one
//! line naming the key), sets up logging and hands over to a role.

mod commands;
mod exit;
mod logging;
mod roles;
mod supervision;
mod telemetry;

use commands::{ct_decode, eval, explain, findings, health, lookup, test_notify};
use exit::Exit;
use roles::{admin, channels, reload, secrets, server, watch};

use certhound_config::Config;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "certhound",
    version,
    about = "Watches Certificate Transparency for phishing domains and alerts within seconds."
)]
struct Cli {
    /// Config file (TOML). Without one, the embedded defaults apply (see config/certhound.toml).
    /// CERTHOUND_<SECTION>__<KEY> variables override single keys.
    #[arg(long, short, global = true, env = "CERTHOUND_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Both roles in one process: tail CT logs, serve their certstream feed on server.listen,
    /// and watch that feed for findings (the local default).
    Run,
    /// The server role alone: tail CT logs and serve a certstream-compatible websocket feed
    /// (`/`, `/full-stream`, `/domains-only`, `/example.json`, `/latest.json`).
    Server,
    /// Certificate Transparency tools.
    Ct {
        #[command(subcommand)]
        command: CtCommand,
    },
    /// Connect to a certstream feed and report findings until stopped (SIGTERM/SIGINT).
    Watch {
        /// Websocket URL of the certstream feed; overrides watch.feed_url.
        #[arg(long)]
        feed: Option<String>,
    },
    /// Run the pipeline on a file of newline-delimited certstream messages (.gz accepted).
    Replay {
        /// The file; gzip is recognised by its content.
        file: PathBuf,
        /// Look up registration data (RDAP/WHOIS) as `watch` does. Off by default: whether a
        /// domain was registered recently is judged against now, not the file's time.
        #[arg(long)]
        enrich: bool,
        /// Keep what the replay stores: in store.path (`--store`) or in this file (`--store
        /// FILE`). Without it a replay is a dry run with its store in memory, so the findings
        /// and dedupe entries of one replay never silence the next, or a running certhound's.
        #[arg(long, num_args = 0..=1, default_missing_value = "", value_name = "FILE")]
        store: Option<String>,
    },
    /// Show, for one domain, its normalised forms and which rule matched or why none did.
    Explain {
        domain: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Measure the rules on a list of names: precision, recall and false-positive rate of a
    /// labelled list (`domain<TAB>phishing|benign`) at the threshold and over a sweep, what
    /// each rule flagged, the mistakes; or, with --names, how many of a plain list would alert.
    #[command(group(clap::ArgGroup::new("input").required(true).args(["file", "names"])))]
    Eval {
        /// A labelled list: `domain<TAB>label` lines, label phishing/malicious/1 or
        /// benign/legit/0; an optional header line, blank lines and `#` comments are skipped.
        file: Option<PathBuf>,
        /// An unlabelled list instead: one name per line.
        #[arg(long, value_name = "FILE")]
        names: Option<PathBuf>,
        /// The threshold to judge at; overrides matcher.threshold.
        #[arg(long, allow_negative_numbers = true, value_parser = eval::parse_threshold)]
        threshold: Option<f64>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Registration data of one domain as JSON: a live RDAP/WHOIS lookup, or the parse of a
    /// saved answer (--rdap-file, --whois-file).
    Lookup {
        /// The domain (its registrable domain is looked up).
        #[arg(required_unless_present_any = ["rdap_file", "whois_file"])]
        domain: Option<String>,
        /// Parse this saved RDAP answer instead of looking up.
        #[arg(long, conflicts_with = "whois_file")]
        rdap_file: Option<PathBuf>,
        /// Parse this saved WHOIS answer instead of looking up.
        #[arg(long)]
        whois_file: Option<PathBuf>,
        /// The domain of a saved answer (same as DOMAIN).
        #[arg(long = "domain", conflicts_with = "domain")]
        domain_flag: Option<String>,
    },
    /// Send one clearly marked test alert through every configured channel and report, per
    /// channel, success or the error. Exit 0 only when all succeeded.
    TestNotify,
    /// List stored findings, their delivery state per channel and verdict (works while
    /// certhound runs).
    Findings {
        /// Only findings stored since then: a duration back (`1h`, `2days`) or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only findings with this verdict (phishing, false_alarm, unsure), or none yet (none).
        #[arg(long)]
        verdict: Option<String>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Ask the running certhound (at admin.listen of this config) whether it is ready: exit 0
    /// when `/readyz` answers 200, 1 otherwise. The container health check.
    Health {
        /// Ask `/healthz` (the process runs) instead of `/readyz` (it does its job).
        #[arg(long)]
        live: bool,
        /// The admin listener's address, when not admin.listen (e.g. it listens on port 0).
        #[arg(long)]
        addr: Option<std::net::SocketAddr>,
    },
    /// Validate a config file and print the effective config (defaults and overrides applied,
    /// secrets redacted).
    CheckConfig {
        /// The file to check; defaults to --config.
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CtCommand {
    /// Print the certstream message of one RFC 6962 entry (`get-entries` item).
    Decode {
        /// The entry's `leaf_input` (base64).
        #[arg(long)]
        leaf_input: String,
        /// The entry's `extra_data` (base64); needed for precertificates.
        #[arg(long)]
        extra_data: Option<String>,
        /// Which form: full (as /full-stream), lite (as /) or domains (as /domains-only).
        #[arg(long, default_value = "full")]
        form: ct_decode::Form,
        /// `cert_index` of the entry.
        #[arg(long, default_value_t = 0)]
        index: u64,
        /// URL of the log (`source.url`, `cert_link`).
        #[arg(long, default_value = "")]
        log_url: String,
        /// Name of the log (`source.name`).
        #[arg(long, default_value = "")]
        log_name: String,
    },
}

fn main() {
    let cli = Cli::parse();
    let path = match &cli.command {
        Command::CheckConfig { file: Some(f) } => Some(f.clone()),
        _ => cli.config.clone(),
    };
    let mut cfg = match Config::load(path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("certhound: {e}");
            std::process::exit(Exit::Config.code());
        }
    };
    let code = match cli.command {
        Command::CheckConfig { .. } => {
            print!("{}", cfg.to_redacted_toml());
            println!(
                "\n# Reloadable without a restart (SIGHUP, or a change of the config file): {}.\n\
                 # Every other key needs a restart.",
                certhound_config::RELOADABLE.join(", ")
            );
            eprintln!(
                "certhound: config OK ({})",
                path.as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "embedded defaults".into())
            );
            Exit::Ok
        }
        Command::Explain { domain, json } => explain::run(&cfg, &domain, json),
        Command::Health { live, addr } => health::run(&cfg.admin, addr, live),
        Command::Eval {
            file,
            names,
            threshold,
            json,
        } => {
            let input = match (&file, &names) {
                (_, Some(n)) => eval::Input::Names(n),
                (Some(f), None) => eval::Input::Labelled(f),
                (None, None) => unreachable!("clap requires FILE or --names"),
            };
            eval::run(
                &cfg,
                eval::Args {
                    input,
                    threshold,
                    json,
                },
            )
        }
        Command::Ct {
            command:
                CtCommand::Decode {
                    leaf_input,
                    extra_data,
                    form,
                    index,
                    log_url,
                    log_name,
                },
        } => ct_decode::run(ct_decode::Args {
            leaf_input: &leaf_input,
            extra_data: extra_data.as_deref(),
            form,
            index,
            log_url: &log_url,
            log_name: &log_name,
        }),
        Command::Server => {
            logging::init(&cfg.log, &cfg.telemetry);
            server::run(cfg, path)
        }
        Command::Run => {
            logging::init(&cfg.log, &cfg.telemetry);
            watch::run(cfg, path, watch::Source::Run)
        }
        Command::TestNotify => {
            logging::init(&cfg.log, &cfg.telemetry);
            match secrets::prepare_notify(&mut cfg) {
                Ok(sdk) => test_notify::run(&cfg, sdk),
                Err(code) => code,
            }
        }
        Command::Lookup {
            domain,
            rdap_file,
            whois_file,
            domain_flag,
        } => lookup::run(
            &cfg,
            lookup::Args {
                domain: domain.as_deref().or(domain_flag.as_deref()),
                rdap_file: rdap_file.as_deref(),
                whois_file: whois_file.as_deref(),
            },
        ),
        Command::Findings {
            since,
            verdict,
            json,
        } => {
            let since = match since.as_deref().map(findings::parse_since).transpose() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("certhound: --since: {e}");
                    std::process::exit(Exit::Config.code());
                }
            };
            let verdict = match verdict.as_deref().map(findings::parse_verdict).transpose() {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("certhound: --verdict: {e}");
                    std::process::exit(Exit::Config.code());
                }
            };
            findings::run(&cfg, since, verdict, json)
        }
        Command::Watch { feed } => {
            if let Some(f) = feed {
                cfg.watch.feed_url = f;
                if let Err(e) = cfg.validate() {
                    eprintln!("certhound: --feed: {e}");
                    std::process::exit(Exit::Config.code());
                }
            }
            logging::init(&cfg.log, &cfg.telemetry);
            watch::run(cfg, path, watch::Source::Feed)
        }
        Command::Replay {
            file,
            enrich,
            store,
        } => {
            // A replay keeps nothing, or keeps it in a file of its own: never in a shared
            // DynamoDB table, unless asked for with `--store` alone (the configured store).
            match store.as_deref() {
                None => {
                    cfg.store.backend = certhound_config::StoreBackend::Redb;
                    cfg.store.path = certhound_config::IN_MEMORY.to_string()
                }
                Some("") => {}
                Some(file) => {
                    cfg.store.backend = certhound_config::StoreBackend::Redb;
                    cfg.store.path = file.to_string()
                }
            }
            logging::init(&cfg.log, &cfg.telemetry);
            watch::run(cfg, path, watch::Source::Replay { path: file, enrich })
        }
    };
    logging::shutdown();
    std::process::exit(code.code());
}
