//! The bare baseline of the unary benchmark: a tonic server implementing
//! `switchyard.v1.Gateway` with no pipeline behind it. Its `Publish` decodes the event with
//! `from_proto` (the gateway's own conversion) and answers the event's id; nothing else is
//! served. It runs as a separate process (the hidden `grpc-echo` subcommand of this binary),
//! pinned to the gateway's CPU, so both servers get the same core and the CPU of each is read
//! from its own `/proc/<pid>/stat`. The server prints its address on stdout and exits when its
//! stdin closes, so it never outlives the harness, whatever ends the harness.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures_util::stream::BoxStream;
use switchyard_core::cloudevent::protobuf::from_proto;
use switchyard_grpc::SubscribeResponse;
use switchyard_grpc::switchyard_v1::gateway_server::{Gateway, GatewayServer};
use switchyard_grpc::switchyard_v1::{
    CallRequest, CallResponse, LeaseRequest, LeaseResponse, PublishBatchRequest, PublishRequest,
    PublishResponse, SettleRequest, SettleResponse, SubscribeRequest,
};
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// How long the echo server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// The gateway's default `grpc.max_concurrent_streams`, kept the same here.
const MAX_CONCURRENT_STREAMS: u32 = 256;

/// `switchyard.v1.Gateway` with `Publish` only.
#[derive(Debug)]
struct Echo;

#[tonic::async_trait]
impl Gateway for Echo {
    async fn publish(
        &self,
        request: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let event = request
            .into_inner()
            .event
            .ok_or_else(|| Status::invalid_argument("`event` is required"))?;
        let event = from_proto(event).map_err(|e| Status::invalid_argument(e.to_string()))?;
        Ok(Response::new(PublishResponse {
            accepted: vec![event.id],
        }))
    }

    async fn publish_batch(
        &self,
        _request: Request<PublishBatchRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        Err(Status::unimplemented("the echo server has Publish only"))
    }

    async fn call(&self, _request: Request<CallRequest>) -> Result<Response<CallResponse>, Status> {
        Err(Status::unimplemented("the echo server has Publish only"))
    }

    async fn lease(
        &self,
        _request: Request<LeaseRequest>,
    ) -> Result<Response<LeaseResponse>, Status> {
        Err(Status::unimplemented("Publish only"))
    }

    async fn ack(
        &self,
        _request: Request<SettleRequest>,
    ) -> Result<Response<SettleResponse>, Status> {
        Err(Status::unimplemented("Publish only"))
    }

    async fn nack(
        &self,
        _request: Request<SettleRequest>,
    ) -> Result<Response<SettleResponse>, Status> {
        Err(Status::unimplemented("Publish only"))
    }

    type SubscribeStream = BoxStream<'static, Result<SubscribeResponse, Status>>;

    async fn subscribe(
        &self,
        _request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        Err(Status::unimplemented("the echo server has Publish only"))
    }
}

/// The `grpc-echo` subcommand: serves on 127.0.0.1:0 until stdin closes.
pub async fn serve() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{addr}")?;
    stdout.flush()?;
    // The harness holds our stdin: end of file means it is gone.
    std::thread::Builder::new()
        .name("stdin-watch".into())
        .spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            std::process::exit(0);
        })
        .context("cannot start the stdin watcher")?;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .add_service(GatewayServer::new(Echo))
        .serve_with_incoming(incoming)
        .await
        .context("echo server failed")
}

/// A running echo server process; dropping it kills it.
#[derive(Debug)]
pub struct EchoProcess {
    child: std::process::Child,
    addr: SocketAddr,
}

impl EchoProcess {
    /// Starts `<this binary> grpc-echo`, pinned to `cpu` when given, and reads its address.
    pub async fn start(cpu: Option<usize>) -> Result<Self> {
        let exe = std::env::current_exe().context("cannot find the bench executable's path")?;
        let mut command = match cpu {
            Some(cpu) => {
                let mut c = std::process::Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(&exe);
                c
            }
            None => std::process::Command::new(&exe),
        };
        command
            .arg("grpc-echo")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().context("cannot start the echo server")?;
        let stdout = child.stdout.take().context("echo stdout was not piped")?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut echo = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        std::thread::Builder::new()
            .name("echo-stdout".into())
            .spawn(move || {
                let mut line = String::new();
                let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
                let _ = tx.send(read);
            })
            .context("cannot start the echo stdout reader")?;
        let line = tokio::time::timeout(START_TIMEOUT, rx)
            .await
            .map_err(|_| anyhow!("the echo server printed no address within {START_TIMEOUT:?}"))?
            .context("echo stdout reader")?
            .context("cannot read the echo server's address")?;
        echo.ensure_alive()?;
        echo.addr = line
            .trim()
            .parse()
            .with_context(|| format!("the echo server printed {line:?}, not an address"))?;
        Ok(echo)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error if the echo server has exited.
    pub fn ensure_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => bail!("the echo server exited: {status}"),
            Err(e) => bail!("cannot query the echo server: {e}"),
        }
    }
}

impl Drop for EchoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
