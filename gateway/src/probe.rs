//! `switchyard probe URL`: one HTTP GET, exit 0 on a 2xx, 1 otherwise, the reason on stderr.
//! The container's `HEALTHCHECK` runs it: a `FROM scratch` image has no curl or shell, and
//! the gateway binary is already there. Plain `http://` only (the admin endpoints it checks
//! are on loopback), one request, bounded by `--timeout-ms`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use http_body_util::Empty;
use hyper::body::Bytes;

/// Runs the probe and reports its outcome as the exit status.
pub fn probe(url: &str, timeout: Duration) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("probe: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        tokio::time::timeout(timeout, get(url))
            .await
            .unwrap_or_else(|_| bail!("no answer within {} ms", timeout.as_millis()))
    });
    match outcome {
        Ok(status) if status.is_success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("probe: {url} answered {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("probe: {url}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn get(url: &str) -> anyhow::Result<http::StatusCode> {
    let uri: http::Uri = url.parse().context("not a URL")?;
    if uri.scheme_str() != Some("http") {
        bail!("only http:// URLs are probed");
    }
    let host = uri.host().context("the URL has no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .context("cannot connect")?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
    tokio::spawn(connection);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let authority = uri.authority().map_or(host, |a| a.as_str());
    let request = http::Request::get(path)
        .header(http::header::HOST, authority)
        .header(http::header::USER_AGENT, "switchyard-probe")
        .body(Empty::<Bytes>::new())
        .context("request")?;
    let response = sender
        .send_request(request)
        .await
        .context("request failed")?;
    Ok(response.status())
}
