//! Interop with a CloudEvents SDK nobody here wrote: the Python `cloudevents` package sends
//! binary and structured events that must arrive intact, and parses what Switchyard emits
//! (webhook deliveries in binary mode, structured JSON from a poll). The script is
//! `tests/interop/cloudevents_sdk.py`; `scripts/test.sh` installs the package.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use switchyard_e2e::Gateway;

#[test]
fn python_cloudevents_sdk_round_trips_through_the_gateway() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/cloudevents_sdk.py");
    let mut python = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut stdout = BufReader::new(python.stdout.take().expect("stdout"));
    let mut hook_url = String::new();
    stdout.read_line(&mut hook_url).expect("webhook url line");
    if hook_url.trim().is_empty() {
        let out = python.wait_with_output().expect("python output");
        panic!(
            "the interop script did not start (is `cloudevents` installed? scripts/test.sh installs it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let yaml = format!(
        "outbounds:\n  sdk: {{ type: webhook, url: \"{}\", mode: binary }}\nroutes:\n  - {{ name: all, to: [hub, sdk] }}\n",
        hook_url.trim()
    );
    let gw = Gateway::start_with(Some(&yaml));
    writeln!(python.stdin.take().expect("stdin"), "{}", gw.url("")).expect("send base url");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("read stdout");
    let out = python.wait_with_output().expect("python exits");
    assert!(
        out.status.success() && rest.contains("interop ok"),
        "interop failed ({}):\n{rest}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
