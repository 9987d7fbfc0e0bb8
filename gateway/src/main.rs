//! `switchyard`: the gateway binary. `switchyard [run] [--config FILE]` serves (with no file,
//! the embedded default: the HTTP family on 127.0.0.1:8080, publish → hub); `switchyard check
//! FILE` validates a configuration and exits 0, or 64 with every error; `switchyard schema`
//! prints the configuration's JSON Schema; `switchyard probe URL` is the container's health
//! check (exit 0 on a 2xx).

mod admin;
mod app;
mod config;
mod logging;
mod probe;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status for a configuration that is not valid (EX_USAGE in sysexits.h).
const EXIT_BAD_CONFIG: u8 = 64;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "A protocol-translating messaging gateway"
)]
struct Cli {
    /// Configuration file (YAML); without one the embedded default runs.
    #[arg(long, short, env = "SWITCHYARD_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Reload the configuration on SIGHUP only, without watching the file.
    #[arg(long, env = "SWITCHYARD_NO_WATCH", global = true)]
    no_watch: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Run,
    /// Validate a configuration file without starting.
    Check {
        /// The file to check.
        file: PathBuf,
    },
    /// Print the configuration file's JSON Schema (for editors and CI; the repository
    /// commits it as deploy/switchyard.schema.json).
    Schema,
    /// GET a URL (http:// only) and exit 0 on a 2xx answer, 1 otherwise: the container
    /// health check, where there is no curl.
    Probe {
        /// For example http://127.0.0.1:8080/healthz
        url: String,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
    },
}

fn main() -> ExitCode {
    // One rustls provider for the whole process (the HTTPS listener, broker and webhook TLS):
    // with more than one compiled in, rustls would refuse to pick. Fails only if one is set.
    let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check { file }) => check(&file),
        Some(Command::Schema) => schema(),
        Some(Command::Probe { url, timeout_ms }) => {
            probe::probe(&url, std::time::Duration::from_millis(timeout_ms))
        }
        Some(Command::Run) | None => run(cli.config.as_deref(), !cli.no_watch),
    }
}

fn check(file: &std::path::Path) -> ExitCode {
    match app::read(Some(file)) {
        Ok(config) => {
            for warning in &config.warnings {
                println!("warning: {warning}");
            }
            println!("{}: ok", file.display());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{}: invalid configuration\n{errors}", file.display());
            ExitCode::from(EXIT_BAD_CONFIG)
        }
    }
}

fn schema() -> ExitCode {
    match serde_json::to_string_pretty(&config::schema()) {
        // Not println!: a closed pipe (`switchyard schema | head`) is an error, not a panic.
        Ok(text) => match writeln!(std::io::stdout(), "{text}") {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cannot write the schema: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("cannot write the schema: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: Option<&std::path::Path>, watch: bool) -> ExitCode {
    let config = match app::read(path) {
        Ok(config) => config,
        Err(errors) => {
            let shown = path.map_or("embedded default".into(), |p| p.display().to_string());
            eprintln!("{shown}: invalid configuration\n{errors}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    let log_level = logging::init(&config.log.level, config.log.format);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let metrics = match metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder() {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("cannot install the metrics recorder: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(app::run(
        config,
        path.map(Into::into),
        watch,
        metrics,
        log_level,
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("switchyard: {e:#}");
            ExitCode::FAILURE
        }
    }
}
