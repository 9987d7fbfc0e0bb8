//! Structured logs on standard error, with a filter a reload can change while running.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Sets the running log filter (`log.level`): the error says why a filter does not parse.
pub type LogLevel = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Installs the global subscriber; returns the handle that changes its filter.
pub fn init(level: &str, format: LogFormat) -> LogLevel {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour only for people: logs piped to files and collectors stay plain text.
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Json => {
            let builder = builder
                .json()
                .with_env_filter(filter)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            builder.init();
            Box::new(move |level| handle.reload(parse(level)?).map_err(|e| e.to_string()))
        }
        LogFormat::Text => {
            let builder = builder.with_env_filter(filter).with_filter_reloading();
            let handle = builder.reload_handle();
            builder.init();
            Box::new(move |level| handle.reload(parse(level)?).map_err(|e| e.to_string()))
        }
    }
}

fn parse(level: &str) -> Result<EnvFilter, String> {
    EnvFilter::try_new(level).map_err(|e| format!("log.level `{level}`: {e}"))
}
